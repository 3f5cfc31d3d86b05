# Compiler warnings and sanitizers, applied to every smolvid target through
# smolvid_set_target_options().
add_library(smolvid_options INTERFACE)
target_compile_options(smolvid_options INTERFACE -Wall -Wextra)
if(SMOLVID_WERROR)
  target_compile_options(smolvid_options INTERFACE -Werror)
endif()
if(SMOLVID_ASAN)
  target_compile_options(smolvid_options INTERFACE -fsanitize=address -fno-omit-frame-pointer)
  target_link_options(smolvid_options INTERFACE -fsanitize=address)
endif()
if(SMOLVID_UBSAN)
  target_compile_options(smolvid_options INTERFACE -fsanitize=undefined -fno-sanitize-recover=undefined)
  target_link_options(smolvid_options INTERFACE -fsanitize=undefined)
endif()
if(SMOLVID_FUZZ)
  # Coverage instrumentation for libFuzzer in every smolvid target; the harnesses themselves link
  # -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt).
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SMOLVID_FUZZ needs clang (e.g. CC=clang-14 CXX=clang++-14), got ${CMAKE_CXX_COMPILER_ID}")
  endif()
  target_compile_options(smolvid_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
  target_link_options(smolvid_options INTERFACE -fsanitize=address,undefined)
endif()
