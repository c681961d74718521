# Small helpers so every folder declares its targets the same way.

set(BAGEL_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

# The LibTorch headers every model translation unit includes; precompiled once, reused by all
# torch targets (a TU that parses them from scratch costs 5-8 s and ~1 GB here).
set(BAGEL_TORCH_PCH_HEADERS
    <ATen/ATen.h>
    <torch/nn/module.h>
    <torch/nn/modules/container/modulelist.h>
    <torch/csrc/autograd/custom_function.h>
    <nlohmann/json.hpp>
    <string>
    <vector>
    <memory>
    <optional>
    <unordered_map>)

# bagel_torch_library(NAME SRCS ... DEPS ...): a static library using LibTorch.
function(bagel_torch_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json ${ARG_DEPS})
  target_compile_options(${name} PRIVATE ${BAGEL_WARNINGS})
  bagel_use_torch_pch(${name})
endfunction()

# bagel_torch_executable(NAME SRCS ... DEPS ...)
function(bagel_torch_executable name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_compile_options(${name} PRIVATE ${BAGEL_WARNINGS})
  bagel_use_torch_pch(${name})
endfunction()

# bagel_torch_test(NAME SRCS ... DEPS ...): a GoogleTest binary registered test by test.
function(bagel_torch_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  if(NOT BAGEL_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${name} PRIVATE ${BAGEL_WARNINGS})
  bagel_use_torch_pch(${name})
  include(GoogleTest)
  target_compile_definitions(${name} PRIVATE BAGEL_DEFAULT_GOLDEN_DIR="${BAGEL_GOLDEN_DIR}"
    BAGEL_DATA_REFERENCE_DIR="${CMAKE_SOURCE_DIR}/tests/data/reference")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 900)
  bagel_gtest_environment(${name} "BAGEL_GOLDEN_DIR=${BAGEL_GOLDEN_DIR}"
                          "BAGEL_BIN_DIR=${CMAKE_BINARY_DIR}/bin" "OMP_NUM_THREADS=1")
endfunction()

# The environment of every test gtest_discover_tests found in `target`. gtest_discover_tests
# cannot carry a list in PROPERTIES (it keeps only the first variable, escaped or not), so the
# variables are set by a script CTest runs after the discovered tests are defined.
function(bagel_gtest_environment target)
  list(JOIN ARGN ";" env)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${target}_environment.cmake")
  file(GENERATE OUTPUT "${script}" CONTENT
    "if(${target}_TESTS)\n  set_tests_properties(\${${target}_TESTS} PROPERTIES ENVIRONMENT \"${env}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()

function(bagel_use_torch_pch name)
  if(NOT BAGEL_USE_PCH)
    return()
  endif()
  if(TARGET bagel_torch_pch)
    target_precompile_headers(${name} REUSE_FROM bagel_torch_pch)
  endif()
endfunction()

# The PCH owner: an object library compiled with the same flags as every torch target.
if(BAGEL_USE_PCH)
  file(WRITE ${CMAKE_BINARY_DIR}/bagel_torch_pch.cc "// precompiled-header owner\n")
  add_library(bagel_torch_pch OBJECT ${CMAKE_BINARY_DIR}/bagel_torch_pch.cc)
  target_link_libraries(bagel_torch_pch PUBLIC ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json)
  target_compile_options(bagel_torch_pch PRIVATE ${BAGEL_WARNINGS})
  target_precompile_headers(bagel_torch_pch PRIVATE ${BAGEL_TORCH_PCH_HEADERS})
endif()
