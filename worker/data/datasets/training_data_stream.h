// The training data of one rank (BAGEL.md §3): the job spec's data groups read from their
// official on-disk formats (dataset_catalog.h, group_reader.h), packed by loader workers
// (packing_worker.h) on background threads that prepare the next batches while the model
// computes, handed out in the official DataLoader order (batch i from worker i mod K).
//
// Sharding: each group's items are sorted and shuffled with its shuffle_seed, then cut per rank
// and per loader worker (data.loader_threads = K logical workers, K threads; 0 = one worker in
// the calling thread, the official num_workers=0). Ranks read disjoint items within a pass and
// every rank produces batches forever (a worker repeats its items pass after pass), so ranks
// always stay in step.
//
// Resume: State() is this rank's position as JSON -- per worker, the state after the last batch
// handed out (its rng, reader cursors, buffered samples) -- so Restore() at the same world size
// and loader_threads yields exactly the batches an uninterrupted run would have. At another
// geometry (world size or loader_threads), Restore() takes every saved rank's state: the items
// each old worker had not read yet in its current pass (its buffered samples first, then the
// rest of its pass from the exact row) are concatenated in (old rank, old worker) order and
// dealt out in equal contiguous slices to the new (rank, worker)s, which read them as their
// current pass and then continue with the new geometry's shards; so within that pass no item is
// lost or repeated. Only batches already handed out count: prefetched batches are rebuilt.
//
// Bad data (missing or corrupt image, malformed line, over-long sample, unreadable file) is
// skipped, counted in Stats() and logged with file and line; a group that a worker cannot get
// one usable sample from in a full pass is an error from Next(); a group too small to give
// every (rank, worker) an item is an error from the constructor.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/job_spec.h"
#include "worker/data/datasets/data_stats.h"
#include "worker/data/datasets/group_reader.h"
#include "worker/data/datasets/packing_worker.h"

namespace bagel::data {

struct DataStreamOptions {
  config::DataSpec data;
  std::string tokenizer_dir;  // vocab.json + merges.txt (+ added_tokens.json) or tokenizer.json
  PackerConfig packer;        // ViT / latent geometry; dropout comes from data.cfg_dropout
  int64_t vocab_size = 0;     // > 0: every id the tokenizer can produce must be below it
  int rank = 0;
  int world_size = 1;
  uint64_t seed = 0;  // randomness of dropout, timesteps, group choice, captions
  int prefetch = 2;   // batches each loader thread may prepare ahead
  DataLog log;        // skipped records, resharding notes
};

struct DataBatch {
  PackedSequence packed;
  std::vector<SampleRef> samples;  // what was packed, in order
};

class TrainingDataStream {
 public:
  explicit TrainingDataStream(DataStreamOptions options);
  ~TrainingDataStream();
  TrainingDataStream(const TrainingDataStream&) = delete;
  TrainingDataStream& operator=(const TrainingDataStream&) = delete;

  // Whether a data spec names datasets (any group other than type demo).
  static bool NamesDatasets(const config::DataSpec& data);

  DataBatch Next();

  nlohmann::json State() const;
  // Before the first Next(): every saved rank's State(), in rank order.
  void Restore(const std::vector<nlohmann::json>& saved_ranks);

  DataStats Stats() const;
  const SpecialTokens& tokens() const;
  int num_workers() const;
  // The catalog of group g (tests).
  const GroupCatalog& catalog(size_t g) const;
  // The item indices (into catalog(g).items) a (rank, worker) reads in a standard pass.
  std::vector<int64_t> ShardItems(size_t g, int world_size, int rank, int worker,
                                  int num_workers) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagel::data
