# Third-party dependencies, all from Debian 12 packages (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(fmt REQUIRED)

# libtorch. Debian's libtorch-dev ships TorchConfig.cmake; a pip-installed torch is found via
# -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)').
find_package(Torch REQUIRED)
# TorchConfig adds flags through TORCH_CXX_FLAGS (e.g. the C++11 ABI define); keep them.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

# PCRE2 through pkg-config; or, given -DPCRE2_INCLUDE_DIR=... -DPCRE2_LIBRARY=... (a machine without
# pkg-config or Debian's packages, see scripts/gpu-check.sh), from those paths.
if(PCRE2_LIBRARY)
  find_path(PCRE2_INCLUDE_DIR pcre2.h REQUIRED)
  add_library(PkgConfig::PCRE2 INTERFACE IMPORTED)
  target_include_directories(PkgConfig::PCRE2 INTERFACE ${PCRE2_INCLUDE_DIR})
  target_link_libraries(PkgConfig::PCRE2 INTERFACE ${PCRE2_LIBRARY})
else()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()

if(NOT SMOLVID_MODEL_ONLY)
  pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale libavfilter)
  find_package(CLI11 REQUIRED)

  # OpenCV: only core, imgproc and imgcodecs are needed; their Debian -dev packages ship no CMake
  # config (that comes with the much larger libopencv-dev), so locate them directly.
  find_path(OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
  foreach(mod core imgproc imgcodecs)
    find_library(OPENCV_${mod}_LIBRARY opencv_${mod} REQUIRED)
    list(APPEND OPENCV_LIBRARIES ${OPENCV_${mod}_LIBRARY})
  endforeach()
  add_library(smolvid_opencv INTERFACE)
  target_include_directories(smolvid_opencv SYSTEM INTERFACE ${OPENCV_INCLUDE_DIR})
  target_link_libraries(smolvid_opencv INTERFACE ${OPENCV_LIBRARIES})
endif()

if(SMOLVID_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
