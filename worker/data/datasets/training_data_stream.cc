#include "worker/data/datasets/training_data_stream.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "model/inference/image_transform.h"
#include "tokenizer/qwen2_tokenizer.h"
#include "tokenizer/tokenizer_error.h"

namespace bagel::data {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;

ResizeRule RuleOf(const config::TransformSpec& t) {
  return {t.max_size, t.min_size, t.stride, t.max_pixels};
}

const char* ItemNoun(GroupKind k) {
  switch (k) {
    case GroupKind::kVlm:
    case GroupKind::kText:
      return "lines";
    case GroupKind::kT2i:
      return "files";
    case GroupKind::kEdit:
      return "(file, row group) pairs";
    default:
      return "items";
  }
}

}  // namespace

struct TrainingDataStream::Impl {
  struct Slot {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<WorkerBatch> queue;
    std::exception_ptr error;
    bool stop = false;
  };

  DataStreamOptions options;
  std::unique_ptr<tokenizer::Qwen2Tokenizer> tok;
  SpecialTokens tokens;
  std::vector<std::unique_ptr<GroupCatalog>> catalogs;
  std::vector<std::unique_ptr<ImageTransform>> transforms;
  std::vector<BuildContext> contexts;
  int num_workers = 1;    // logical loader workers
  int shard_workers = 0;  // ShardOf's num_workers (0: the official num_workers=0)
  std::vector<std::unique_ptr<PackingWorker>> workers;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<json> consumed_state;
  int64_t consumed = 0;
  bool started = false;
  mutable std::mutex stats_mu;
  DataStats stats;
  std::mutex log_mu;

  void Log(const std::string& line) {
    if (!options.log) return;
    std::lock_guard<std::mutex> l(log_mu);
    options.log(line);
  }

  std::vector<int64_t> Shard(size_t g, int world, int rank, int w, int nw) const {
    return ShardOf(static_cast<int64_t>(catalogs[g]->items.size()), rank, world, w, nw);
  }

  std::vector<WorkUnit> StandardUnits(size_t g, int world, int rank, int w, int nw) const {
    std::vector<WorkUnit> units;
    for (int64_t item : Shard(g, world, rank, w, nw)) units.push_back({item, 0, 0, false});
    return units;
  }

  std::unique_ptr<PackingWorker> MakeWorker(int w) {
    std::vector<std::unique_ptr<GroupReader>> readers;
    std::vector<double> weights;
    std::vector<bool> mandatory;
    for (size_t g = 0; g < catalogs.size(); ++g) {
      readers.push_back(std::make_unique<GroupReader>(
          *catalogs[g], StandardUnits(g, options.world_size, options.rank, w, shard_workers),
          contexts[g], options.seed));
      weights.push_back(catalogs[g]->spec.weight);
      mandatory.push_back(catalogs[g]->spec.mandatory);
    }
    const config::DataSpec& d = options.data;
    PackingBudget budget{d.expected_num_tokens, d.max_num_tokens, d.max_num_tokens_per_sample,
                         d.prefer_buffer_before, d.max_buffer_size};
    return std::make_unique<PackingWorker>(
        std::move(readers), weights, mandatory, budget, options.packer, tokens,
        CounterRng::Mix({options.seed, static_cast<uint64_t>(options.rank),
                         static_cast<uint64_t>(w), 0x5eedull}),
        [this](const std::string& line) { Log(line); });
  }

  void Start() {
    started = true;
    if (options.data.loader_threads == 0) return;
    for (int w = 0; w < num_workers; ++w) {
      slots.push_back(std::make_unique<Slot>());
      Slot* s = slots.back().get();
      PackingWorker* worker = workers[w].get();
      const size_t depth = static_cast<size_t>(std::max(1, options.prefetch));
      s->thread = std::thread([s, worker, depth] {
        for (;;) {
          {
            std::unique_lock<std::mutex> l(s->mu);
            s->cv.wait(l, [&] { return s->stop || s->queue.size() < depth; });
            if (s->stop) return;
          }
          try {
            WorkerBatch b = worker->Next();
            std::lock_guard<std::mutex> l(s->mu);
            s->queue.push_back(std::move(b));
          } catch (...) {
            std::lock_guard<std::mutex> l(s->mu);
            s->error = std::current_exception();
            s->cv.notify_all();
            return;
          }
          s->cv.notify_all();
        }
      });
    }
  }

  void Stop() {
    for (auto& s : slots) {
      {
        std::lock_guard<std::mutex> l(s->mu);
        s->stop = true;
      }
      s->cv.notify_all();
    }
    for (auto& s : slots) {
      if (s->thread.joinable()) s->thread.join();
    }
  }

  void Reshard(const std::vector<json>& saved);
};

bool TrainingDataStream::NamesDatasets(const config::DataSpec& data) {
  for (const auto& g : data.groups) {
    if (g.type != "demo") return true;
  }
  return false;
}

TrainingDataStream::TrainingDataStream(DataStreamOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = std::move(options);
  const config::DataSpec& d = m.options.data;
  TORCH_CHECK(!d.groups.empty(), "data.groups: at least one data group is needed");
  TORCH_CHECK(
      m.options.world_size >= 1 && m.options.rank >= 0 && m.options.rank < m.options.world_size,
      "data stream: rank ", m.options.rank, " of world size ", m.options.world_size);
  for (size_t g = 0; g < d.groups.size(); ++g) {
    TORCH_CHECK(d.groups[g].type != "demo", "data.groups[", g, "] (", d.groups[g].name,
                "): type demo (generated data) cannot be mixed with datasets");
  }
  TORCH_CHECK(!m.options.tokenizer_dir.empty(),
              "data.tokenizer: datasets need a tokenizer directory (vocab.json + merges.txt or "
              "tokenizer.json); set data.tokenizer or init from an HF checkpoint");
  try {
    m.tok = std::make_unique<tokenizer::Qwen2Tokenizer>(
        tokenizer::Qwen2Tokenizer::FromDirectory(m.options.tokenizer_dir));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "data.tokenizer ", m.options.tokenizer_dir, ": ", e.what());
  }
  const auto special = m.tok->BagelSpecialTokens();
  m.tokens = {special.im_start, special.im_end, special.vision_start, special.vision_end};
  if (m.options.vocab_size > 0) {
    TORCH_CHECK(m.tok->id_limit() <= m.options.vocab_size, "data.tokenizer ",
                m.options.tokenizer_dir, ": token ids go up to ", m.tok->id_limit() - 1,
                " but the model's vocabulary has ", m.options.vocab_size,
                " ids; train a model with the tokenizer's vocabulary");
  }
  m.options.packer.text_cond_dropout_prob = d.cfg_dropout.text;
  m.options.packer.vit_cond_dropout_prob = d.cfg_dropout.vit;
  m.options.packer.vae_cond_dropout_prob = d.cfg_dropout.vae;

  m.shard_workers = static_cast<int>(d.loader_threads);
  m.num_workers = std::max(1, m.shard_workers);
  const int64_t consumers = static_cast<int64_t>(m.options.world_size) * m.num_workers;
  for (size_t g = 0; g < d.groups.size(); ++g) {
    m.catalogs.push_back(std::make_unique<GroupCatalog>(
        BuildCatalog(d.groups[g], static_cast<int>(g), [&m](const std::string& l) { m.Log(l); })));
    const GroupCatalog& c = *m.catalogs.back();
    const int64_t n = static_cast<int64_t>(c.items.size());
    TORCH_CHECK(n / m.options.world_size / m.num_workers > 0, "data.groups[", g, "] (", c.name,
                "): ", n, " ", ItemNoun(c.kind), " cannot give each of ", m.options.world_size,
                " ranks x ", m.num_workers, " loader workers = ", consumers,
                " one (the official sharding is by file / line); add data, raise num_used_data "
                "(files repeat to it) or lower data.loader_threads");
    // The largest image a transform can give must have position ids the model can embed.
    auto sides = [](const config::TransformSpec& t) {
      return (t.max_size + t.stride - 1) / t.stride * t.stride;
    };
    const PackerConfig& pc = m.options.packer;
    const bool uses_vae = c.kind == GroupKind::kT2i || c.kind == GroupKind::kEdit;
    const bool uses_vit = c.kind == GroupKind::kVlm || c.kind == GroupKind::kEdit;
    TORCH_CHECK(!uses_vae || sides(d.groups[g].vae_transform) <=
                                 pc.max_latent_size * pc.vae_image_downsample,
                "data.groups[", g, "] (", c.name, ").vae_transform.max_size ",
                d.groups[g].vae_transform.max_size, " gives latents larger than the model's ",
                "max_latent_size ", pc.max_latent_size, " (at most ",
                pc.max_latent_size * pc.vae_image_downsample, " pixels a side)");
    TORCH_CHECK(!uses_vit || sides(d.groups[g].vit_transform) <=
                                 pc.max_num_patch_per_side * pc.vit_patch_size,
                "data.groups[", g, "] (", c.name, ").vit_transform.max_size ",
                d.groups[g].vit_transform.max_size, " gives more than the ViT's ",
                pc.max_num_patch_per_side, " patches a side (at most ",
                pc.max_num_patch_per_side * pc.vit_patch_size, " pixels)");
    m.transforms.push_back(std::make_unique<ImageTransform>(RuleOf(d.groups[g].vit_transform)));
    m.transforms.push_back(std::make_unique<ImageTransform>(RuleOf(d.groups[g].vae_transform)));
    m.contexts.push_back(
        {m.tok.get(), m.transforms[m.transforms.size() - 2].get(), m.transforms.back().get()});
  }
  for (int w = 0; w < m.num_workers; ++w) {
    m.workers.push_back(m.MakeWorker(w));
    m.consumed_state.push_back(m.workers.back()->State());
  }
}

TrainingDataStream::~TrainingDataStream() { impl_->Stop(); }

DataBatch TrainingDataStream::Next() {
  Impl& m = *impl_;
  if (!m.started) m.Start();
  const int w = static_cast<int>(m.consumed % m.num_workers);
  WorkerBatch b;
  if (m.slots.empty()) {
    b = m.workers[w]->Next();
  } else {
    Impl::Slot& s = *m.slots[w];
    std::unique_lock<std::mutex> l(s.mu);
    s.cv.wait(l, [&] { return !s.queue.empty() || s.error; });
    if (s.queue.empty()) std::rethrow_exception(s.error);
    b = std::move(s.queue.front());
    s.queue.pop_front();
    l.unlock();
    s.cv.notify_all();
  }
  m.consumed_state[w] = std::move(b.state_after);
  ++m.consumed;
  {
    std::lock_guard<std::mutex> l(m.stats_mu);
    m.stats.Add(b.stats);
  }
  return {std::move(b.packed), std::move(b.samples)};
}

json TrainingDataStream::State() const {
  const Impl& m = *impl_;
  // Each group's item count, so a resume over a changed dataset is an error rather than
  // cursors pointing at other (or no) items.
  json items = json::array();
  for (const auto& c : m.catalogs) items.push_back(c->items.size());
  return {{"version", kStateVersion},
          {"rank", m.options.rank},
          {"world_size", m.options.world_size},
          {"num_workers", m.shard_workers},
          {"batches", m.consumed},
          {"group_items", std::move(items)},
          {"workers", m.consumed_state}};
}

void TrainingDataStream::Restore(const std::vector<json>& saved) {
  Impl& m = *impl_;
  TORCH_CHECK(!m.started, "data stream: Restore must come before the first Next");
  TORCH_CHECK(!saved.empty(), "data state: no saved rank states");
  for (size_t r = 0; r < saved.size(); ++r) {
    const json& s = saved[r];
    TORCH_CHECK(s.is_object() && s.value("version", 0) == kStateVersion && s.contains("workers") &&
                    s.contains("world_size") && s.contains("num_workers"),
                "data state of saved rank ", r, ": not a version ", kStateVersion,
                " data stream state");
    TORCH_CHECK(s["world_size"].get<size_t>() == saved.size(), "data state: ", saved.size(),
                " saved ranks but rank ", r, " says world size ", s["world_size"].dump());
    TORCH_CHECK(s["num_workers"].get<int>() >= 0, "data state of saved rank ", r, ": num_workers ",
                s["num_workers"].dump());
    // States written before group_items existed have only the bounds checks of the readers.
    if (s.contains("group_items")) {
      const json& items = s["group_items"];
      TORCH_CHECK(items.is_array() && items.size() == m.catalogs.size(),
                  "data state of saved rank ", r, ": item counts of ", items.size(),
                  " data groups for ", m.catalogs.size(), " (the data groups changed?)");
      for (size_t g = 0; g < m.catalogs.size(); ++g) {
        const GroupCatalog& c = *m.catalogs[g];
        TORCH_CHECK(items[g].get<int64_t>() == static_cast<int64_t>(c.items.size()), "data.groups[",
                    g, "] (", c.name, "): the checkpoint's data position is for ",
                    items[g].get<int64_t>(), " ", ItemNoun(c.kind), " but the group now has ",
                    c.items.size(),
                    "; the dataset changed since the checkpoint (resume with the files it was "
                    "trained on)");
      }
    }
  }
  const int old_world = static_cast<int>(saved.size());
  const json& mine = saved[std::min(m.options.rank, old_world - 1)];
  if (old_world == m.options.world_size && mine["num_workers"].get<int>() == m.shard_workers) {
    TORCH_CHECK(mine["workers"].size() == m.workers.size(), "data state: ", mine["workers"].size(),
                " worker states for ", m.workers.size(), " workers");
    for (size_t w = 0; w < m.workers.size(); ++w) {
      m.workers[w]->Restore(mine["workers"][w]);
      m.consumed_state[w] = mine["workers"][w];
    }
    m.consumed = mine.value("batches", int64_t{0});
    return;
  }
  m.Reshard(saved);
}

void TrainingDataStream::Impl::Reshard(const std::vector<json>& saved) {
  const int old_world = static_cast<int>(saved.size());
  int64_t batches = 0;
  for (const auto& s : saved) batches = std::max(batches, s.value("batches", int64_t{0}));
  const int64_t slices = static_cast<int64_t>(options.world_size) * num_workers;
  std::vector<std::vector<ReaderCursor>> cursors(num_workers);
  for (size_t g = 0; g < catalogs.size(); ++g) {
    std::vector<WorkUnit> remaining;
    int64_t pass = 0;
    for (int r = 0; r < old_world; ++r) {
      const int old_nw = saved[r]["num_workers"].get<int>();
      const json& ws_all = saved[r]["workers"];
      TORCH_CHECK(static_cast<int>(ws_all.size()) == std::max(1, old_nw), "data state of rank ", r,
                  ": ", ws_all.size(), " worker states for num_workers ", old_nw);
      for (int w = 0; w < static_cast<int>(ws_all.size()); ++w) {
        const json& ws = ws_all[w];
        TORCH_CHECK(ws.at("groups").size() == catalogs.size(), "data state of rank ", r, ": ",
                    ws.at("groups").size(), " group cursors for ", catalogs.size(),
                    " data groups (the data groups changed?)");
        for (const auto& b : ws.at("buffer")) {
          const SampleRef ref = SampleRef::FromJson(b);
          if (ref.group == static_cast<int>(g)) {
            remaining.push_back({ref.item, ref.row_group, ref.row, true});
          }
        }
        const ReaderCursor c = ReaderCursor::FromJson(ws["groups"][g]);
        pass = std::max(pass, c.pass);
        const std::vector<WorkUnit> units =
            c.units ? *c.units : StandardUnits(g, old_world, r, w, old_nw);
        for (size_t u = static_cast<size_t>(std::max<int64_t>(c.unit, 0)); u < units.size(); ++u) {
          WorkUnit unit = units[u];
          if (static_cast<int64_t>(u) == c.unit) {
            unit.row_group = c.row_group;
            unit.row = c.row;
          }
          remaining.push_back(unit);
        }
      }
    }
    CheckUnitsFit(*catalogs[g], remaining);
    const int64_t n = static_cast<int64_t>(remaining.size());
    for (int w = 0; w < num_workers; ++w) {
      const int64_t idx = static_cast<int64_t>(options.rank) * num_workers + w;
      ReaderCursor c;
      c.pass = pass;
      c.unit = 0;
      c.units = std::vector<WorkUnit>(remaining.begin() + idx * n / slices,
                                      remaining.begin() + (idx + 1) * n / slices);
      if (!c.units->empty()) {
        const WorkUnit& first = c.units->front();
        c.row_group = catalogs[g]->kind == GroupKind::kEdit
                          ? catalogs[g]->items.at(first.item).row_group
                          : first.row_group;
        c.row = first.row;
      }
      cursors[w].push_back(std::move(c));
    }
    Log("data: group '" + catalogs[g]->name + "': resumed from " + std::to_string(old_world) +
        " ranks; " + std::to_string(n) + " unread units of the current pass dealt to " +
        std::to_string(slices) + " (rank, worker)s");
  }
  for (int w = 0; w < num_workers; ++w) {
    json groups = json::array();
    for (const auto& c : cursors[w]) groups.push_back(c.ToJson());
    char rng[17];
    std::snprintf(rng, sizeof rng, "%016llx",
                  static_cast<unsigned long long>(CounterRng::Mix(
                      {options.seed, static_cast<uint64_t>(options.rank), static_cast<uint64_t>(w),
                       static_cast<uint64_t>(batches), 0x7e5aull})));
    json state = {{"rng", rng}, {"groups", groups}, {"buffer", json::array()}};
    workers[w]->Restore(state);
    consumed_state[w] = std::move(state);
  }
  consumed = batches;
}

DataStats TrainingDataStream::Stats() const {
  std::lock_guard<std::mutex> l(impl_->stats_mu);
  return impl_->stats;
}

const SpecialTokens& TrainingDataStream::tokens() const { return impl_->tokens; }
int TrainingDataStream::num_workers() const { return impl_->num_workers; }
const GroupCatalog& TrainingDataStream::catalog(size_t g) const { return *impl_->catalogs.at(g); }

std::vector<int64_t> TrainingDataStream::ShardItems(size_t g, int world_size, int rank, int worker,
                                                    int num_workers) const {
  return impl_->Shard(g, world_size, rank, worker, num_workers);
}

}  // namespace bagel::data
