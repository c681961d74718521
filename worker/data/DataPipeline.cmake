# The data pipeline (issue 5, docs/DATA.md), included from worker/CMakeLists.txt: Parquet,
# datasets, sharding, the training data stream, bagel-pack and bagel-make-dataset. Images are
# decoded and resized by imaging/ (the same code inference uses). Parquet goes through Apache
# Arrow C++ (libarrow/libparquet from the pyarrow wheel, cmake/Dependencies.cmake), which the GPU
# bundle carries beside LibTorch's libraries.
add_library(bagel_parquet STATIC
  data/parquet/parquet_file.cc
  data/parquet/parquet_writer.cc)
target_include_directories(bagel_parquet PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(bagel_parquet PRIVATE bagel_parquet_shared)
target_compile_options(bagel_parquet PRIVATE ${BAGEL_WARNINGS})

bagel_torch_library(bagel_datasets
  SRCS
    data/datasets/dataset_catalog.cc
    data/datasets/group_reader.cc
    data/datasets/packing_worker.cc
    data/datasets/sample_builders.cc
    data/datasets/training_data_stream.cc
    data/sharding/python_random.cc
  DEPS bagel_data bagel_imaging bagel_parquet bagel_tokenizer bagel_contract bagel_config
    bagel_inference)

bagel_torch_test(data_pipeline_tests
  SRCS
    data/datasets/counter_rng_test.cc
    data/datasets/dataset_catalog_test.cc
    data/datasets/dataset_generator_test.cc
    data/datasets/group_reader_test.cc
    data/datasets/packing_layout_test.cc
    data/datasets/packing_worker_test.cc
    data/datasets/sample_builders_test.cc
    data/datasets/training_data_stream_test.cc
    data/parquet/parquet_file_test.cc
    data/sharding/python_random_test.cc
  DEPS bagel_datasets bagel_dataset_generator)
if(TARGET data_pipeline_tests)
  target_link_libraries(data_pipeline_tests PRIVATE bagel_parquet_shared bagel_crypto_static)
endif()

# Small datasets in the official formats for the tests and the demo.
add_library(bagel_dataset_generator STATIC data/datasets/dataset_generator.cc)
target_link_libraries(bagel_dataset_generator PUBLIC bagel_imaging bagel_parquet
                                                     nlohmann_json::nlohmann_json)
target_compile_options(bagel_dataset_generator PRIVATE ${BAGEL_WARNINGS})
add_executable(bagel-make-dataset data/tools/bagel_make_dataset_main.cc)
target_link_libraries(bagel-make-dataset PRIVATE bagel_dataset_generator CLI11::CLI11)
target_compile_options(bagel-make-dataset PRIVATE ${BAGEL_WARNINGS})

# bagel-pack, the packer's checking command (tests/golden/README.md), and its run over every
# reference case that has a pack/ folder.
bagel_torch_executable(bagel-pack SRCS data/tools/bagel_pack_main.cc
  DEPS bagel_data bagel_model_tools CLI11::CLI11)
if(BAGEL_BUILD_TESTS)
  foreach(case stage1-vlm stage1-mixed stage2-mixed stage2-t2i stage2-cfgdrop)
    add_test(NAME cli.bagel_pack.${case}
      COMMAND ${CMAKE_SOURCE_DIR}/tests/data/run_pack_case.sh
              ${CMAKE_BINARY_DIR}/bin ${BAGEL_GOLDEN_DIR}/${case}
              ${CMAKE_BINARY_DIR}/test_out/pack/${case})
    set_tests_properties(cli.bagel_pack.${case} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
  endforeach()
endif()

# The trainer reads datasets through the training data stream (worker/trainer/train_job.cc).
target_link_libraries(bagel_sharded_trainer PUBLIC bagel_datasets)
if(BAGEL_BUILD_TESTS)
  add_test(NAME cli.bagel_train.datasets
    COMMAND ${CMAKE_SOURCE_DIR}/tests/data/trainer_datasets_test.sh ${CMAKE_BINARY_DIR}/bin
            ${CMAKE_BINARY_DIR}/test_out/trainer_datasets ${BAGEL_GOLDEN_DIR}/tokenizer)
  set_tests_properties(cli.bagel_train.datasets PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
endif()

# Datasets from every Parquet writer users have (pyarrow, polars, DuckDB, fastparquet, Hugging Face
# datasets, in the test virtualenv): read back exactly, and trained from with nothing skipped.
if(BAGEL_BUILD_TESTS AND TARGET data_pipeline_tests)
  add_test(NAME cli.bagel_train.parquet_writers
    COMMAND ${CMAKE_SOURCE_DIR}/tests/data/parquet_writers_test.sh ${CMAKE_BINARY_DIR}/bin
            $<TARGET_FILE:data_pipeline_tests> ${CMAKE_BINARY_DIR}/test_out/parquet_writers
            ${BAGEL_GOLDEN_DIR}/tokenizer ${BAGEL_TESTENV_PYTHON})
  set_tests_properties(cli.bagel_train.parquet_writers PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=1")
endif()

# Throughput of the data stream (docs/DATA.md, "Throughput").
bagel_torch_executable(bagel-data-bench SRCS data/tools/bagel_data_bench_main.cc
  DEPS bagel_datasets bagel_dataset_generator CLI11::CLI11)
