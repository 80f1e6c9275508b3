# Rewrites the kernel launches of a CUDA source into calls a host C++ compiler accepts (see
# cuda_emu.hpp). Line numbers stay those of the source: a launch's arguments keep their newlines.
# cmake -DIN=kernels.cu -DOUT=kernels_host.cpp -P translate.cmake
file(READ "${IN}" text)
string(REGEX REPLACE "([A-Za-z_][A-Za-z_0-9]*)<<<([^;>]*)>>>\\(([^;]*)\\);"
                     "NC_EMU_LAUNCH(\\2, [=]() { \\1(\\3); });" text "${text}")
if(text MATCHES "<<<")
  message(FATAL_ERROR "${IN}: a kernel launch translate.cmake cannot rewrite")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
