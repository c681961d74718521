// Shared fixtures of the data pipeline's tests: the real tokenizer (loaded once) and small
// generated datasets (bagel-make-dataset's generator, written once per test binary into a
// temporary folder that is removed at exit).
#pragma once

#include <memory>

#include "testing/reference_data.h"
#include "testing/temp_dir.h"
#include "tokenizer/qwen2_tokenizer.h"
#include "worker/data/datasets/dataset_generator.h"

namespace bagel::data::testing {

inline const tokenizer::Qwen2Tokenizer& SharedTokenizer() {
  static const tokenizer::Qwen2Tokenizer tok =
      tokenizer::Qwen2Tokenizer::FromDirectory(bagel::testing::GoldenTokenizerDir());
  return tok;
}

class GeneratedData {
 public:
  // bad: with one record of each kind of bad data.
  static const GeneratedDataset& Get(bool bad) {
    static GeneratedData data;
    return bad ? data.bad_ : data.good_;
  }

 private:
  GeneratedData() {
    DatasetGeneratorOptions o;
    o.out_dir = root_.File("good");
    good_ = GenerateDatasets(o);
    o.out_dir = root_.File("bad");
    o.bad_data = true;
    bad_ = GenerateDatasets(o);
  }
  bagel::testing::TempDir root_;  // removed, with both datasets, at exit
  GeneratedDataset good_, bad_;
};

}  // namespace bagel::data::testing
