/* The static HTML page: inline stylesheet, figures in a responsive grid, no scripts. */
#include <stdio.h>

#include "ncssl/report.h"
#include "report_internal.h"

void rp_html_text(FILE *f, const char *text) {
  for (const char *c = text ? text : ""; *c; c++) switch (*c) {
      case '&':
        fputs("&amp;", f);
        break;
      case '<':
        fputs("&lt;", f);
        break;
      case '>':
        fputs("&gt;", f);
        break;
      case '"':
        fputs("&quot;", f);
        break;
      default:
        fputc(*c, f);
    }
}

/* Readable from a phone to a wide screen: one column, two side by side from ~1000 px. */
static const char *stylesheet =
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d1d1f;"
    "background:#fafafa}\n"
    "main{max-width:1400px;margin:0 auto;padding:1.2rem 1.5rem 3rem}\n"
    "h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin:2rem 0 .4rem;"
    "border-bottom:1px solid #ddd;padding-bottom:.2rem}\n"
    ".sub{color:#555;margin:.2rem 0 1rem}.intro{color:#444;margin:.3rem 0 .8rem}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr));"
    "gap:1.2rem}\n"
    "figure{margin:0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.6rem}\n"
    "figure img{display:block;width:100%;height:auto}\n"
    "figcaption{font-size:.9rem;color:#333;margin-top:.4rem}\n"
    "table{border-collapse:collapse;background:#fff;font-size:.9rem;margin:.4rem 0}\n"
    "th,td{border:1px solid #ddd;padding:.25rem .55rem;text-align:left;vertical-align:top}\n"
    "th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".scroll{overflow-x:auto;max-width:100%}\n"
    ".notice{background:#fff4e5;border-left:4px solid #e69500;padding:.5rem .9rem;margin:.6rem 0}\n"
    ".notice.bad{background:#fdecea;border-left-color:#d62728}\n"
    ".notice ul{margin:.2rem 0;padding-left:1.2rem}\n"
    "details{margin:.3rem 0}summary{cursor:pointer;color:#1f4e8c}\n"
    "code{font-size:.9em}\n"
    "h3{font-size:1.05rem;margin:1.4rem 0 .2rem}td.missing{color:#8a5a00;background:#fff4e5}\n"
    ".verdict.yes{color:#2ca02c}.verdict.no{color:#d62728}.verdict.open{color:#555}\n";

void rp_html_begin(FILE *f, const char *title, const char *subtitle) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
  fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
  rp_html_text(f, title);
  fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>", stylesheet);
  rp_html_text(f, title);
  fputs("</h1>\n", f);
  if (subtitle) {
    fputs("<p class=\"sub\">", f);
    rp_html_text(f, subtitle);
    fputs("</p>\n", f);
  }
}

void rp_html_figures(FILE *f, const char *heading, const char *intro, const rp_page_fig *figs,
                     int n) {
  fputs("<section>\n<h2>", f);
  rp_html_text(f, heading);
  fputs("</h2>\n", f);
  if (intro) {
    fputs("<p class=\"intro\">", f);
    rp_html_text(f, intro);
    fputs("</p>\n", f);
  }
  if (n) fputs("<div class=\"grid\">\n", f);
  for (int i = 0; i < n; i++) {
    /* The PNG's own size as width/height keeps the layout stable while images load. */
    fprintf(f,
            "<figure id=\"%s\"><img src=\"" NC_REPORT_FIG_DIR
            "/%s.png\" width=\"900\" "
            "height=\"650\" alt=\"",
            figs[i].stem, figs[i].stem);
    rp_html_text(f, figs[i].title);
    fputs("\"><figcaption><b>", f);
    rp_html_text(f, figs[i].title);
    fputs(".</b> ", f);
    rp_html_text(f, figs[i].caption);
    fprintf(f, " <a href=\"" NC_REPORT_FIG_DIR "/%s.svg\">SVG</a></figcaption></figure>\n",
            figs[i].stem);
  }
  if (n) fputs("</div>\n", f);
  fputs("</section>\n", f);
}

void rp_html_end(FILE *f) {
  fputs("<p class=\"sub\">Written by ncssl " NCSSL_VERSION
        ". Static page: figures are the PNG files beside it (SVG linked).</p>\n",
        f);
  fputs("</main>\n</body>\n</html>\n", f);
}
