// One loader worker of the training data stream: the official PackedDataset.__iter__ loop
// (BAGEL.md §3.5) over this worker's group readers -- mandatory groups first in every sequence,
// the buffer preferred below prefer_buffer_before, groups otherwise picked by weight, samples
// whose cost (num_tokens + 2 per plan item) exceeds max_num_tokens_per_sample skipped, a sample
// that would pass max_num_tokens buffered (or, from the buffer or with the buffer full, the
// sequence yielded and that sample dropped), the sequence yielded once it reaches
// expected_num_tokens -- with CFG dropout and timesteps drawn from its CounterRng.
//
// Its whole state is JSON: the rng, each reader's cursor and the buffer as SampleRefs, rebuilt
// on Restore. Skipped records are counted (DataStats) and logged with their file and line.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "worker/data/datasets/counter_rng.h"
#include "worker/data/datasets/data_stats.h"
#include "worker/data/datasets/group_reader.h"
#include "worker/data/sequence_packer.h"

namespace bagel::data {

struct PackingBudget {
  int64_t expected_num_tokens = 32768;
  int64_t max_num_tokens = 36864;
  int64_t max_num_tokens_per_sample = 16384;
  int64_t prefer_buffer_before = 16384;
  int64_t max_buffer_size = 50;
};

using DataLog = std::function<void(const std::string&)>;

struct WorkerBatch {
  PackedSequence packed;
  std::vector<SampleRef> samples;  // in packing order
  nlohmann::json state_after;      // the worker's state once this batch was made
  DataStats stats;                 // what making this batch did
};

class PackingWorker {
 public:
  // Records read in a row without one being packed before Next() gives up with an error.
  static constexpr int64_t kMaxFruitlessReads = 20000;

  // One reader, weight and mandatory flag per group (weights > 0).
  PackingWorker(std::vector<std::unique_ptr<GroupReader>> readers, std::vector<double> weights,
                std::vector<bool> mandatory, PackingBudget budget, PackerConfig packer,
                SpecialTokens tokens, uint64_t rng_state, DataLog log);

  WorkerBatch Next();

  nlohmann::json State() const;
  void Restore(const nlohmann::json& state);

  GroupReader& reader(size_t g) { return *readers_.at(g); }
  size_t num_groups() const { return readers_.size(); }

 private:
  struct Buffered {
    SampleRef ref;
    PreparedSample sample;
  };
  std::optional<Buffered> Pull(size_t g, DataStats& stats);
  void Skip(const std::string& reason, const std::string& message, DataStats& stats);

  std::vector<std::unique_ptr<GroupReader>> readers_;
  std::vector<double> cumprobs_;
  std::vector<bool> mandatory_;
  PackingBudget budget_;
  PackerConfig packer_config_;
  SpecialTokens tokens_;
  CounterRng rng_;
  DataLog log_;
  std::deque<Buffered> buffer_;
  std::map<std::string, int64_t> logged_;
  std::set<std::string> logged_messages_;
  int64_t fruitless_ = 0;  // records read since one was packed
};

}  // namespace bagel::data
