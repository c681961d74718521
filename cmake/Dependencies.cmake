# Finds every dependency, in the order ../shared/spec/STACK.md requires:
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
