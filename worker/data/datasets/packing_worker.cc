#include "worker/data/datasets/packing_worker.h"

#include <c10/util/Exception.h>

#include <cstdio>

namespace bagel::data {
namespace {

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Why the packer would refuse `s` part-way through (leaving a half-added sample), or "".
std::string PackerMismatch(const Sample& s, const PackerConfig& c) {
  size_t texts = 0, images = 0;
  for (const PlanItem& item : s.plan) {
    if (item.special_token_loss && !item.special_token_label) {
      return "special_token_loss without special_token_label";
    }
    if (item.type == PlanItemType::kText) {
      ++texts;
      continue;
    }
    if (images >= s.images.size()) return "more image items than images";
    const at::Tensor& im = s.images[images++];
    if (im.dim() != 3 || im.size(0) != 3) return "an image is not [3, H, W]";
    const bool vit = item.type == PlanItemType::kVitImage;
    const int64_t d = vit ? c.vit_patch_size : c.vae_image_downsample;
    const int64_t most = vit ? c.max_num_patch_per_side : c.max_latent_size;
    if (im.size(1) % d != 0 || im.size(2) % d != 0 || im.size(1) / d > most ||
        im.size(2) / d > most) {
      return "a " + std::string(vit ? "ViT" : "VAE") + " image of " + std::to_string(im.size(1)) +
             "x" + std::to_string(im.size(2)) + " does not fit the model's patch grid";
    }
  }
  if (texts > s.text_ids.size()) return "more text items than texts";
  return "";
}

}  // namespace

PackingWorker::PackingWorker(std::vector<std::unique_ptr<GroupReader>> readers,
                             std::vector<double> weights, std::vector<bool> mandatory,
                             PackingBudget budget, PackerConfig packer, SpecialTokens tokens,
                             uint64_t rng_state, DataLog log)
    : readers_(std::move(readers)),
      mandatory_(std::move(mandatory)),
      budget_(budget),
      packer_config_(packer),
      tokens_(tokens),
      rng_(rng_state),
      log_(std::move(log)) {
  TORCH_CHECK(!readers_.empty() && weights.size() == readers_.size() &&
                  mandatory_.size() == readers_.size(),
              "packing worker: one weight and mandatory flag per group");
  double total = 0;
  for (double w : weights) {
    TORCH_CHECK(w > 0, "packing worker: group weights must be > 0");
    total += w;
  }
  double acc = 0;
  for (double w : weights) cumprobs_.push_back((acc += w) / total);
}

void PackingWorker::Skip(const std::string& reason, const std::string& message, DataStats& stats) {
  stats.skipped[reason]++;
  // A record met again in a later pass is counted but not logged again; of the others, the
  // first 20 per reason, then every 1000th, so a bad dataset cannot flood the log.
  if (logged_messages_.count(message) != 0) return;
  if (logged_messages_.size() < 10000) logged_messages_.insert(message);
  const int64_t n = ++logged_[reason];
  if (log_ && (n <= 20 || n % 1000 == 0)) {
    log_("data: skipped (" + reason + ", #" + std::to_string(n) + "): " + message);
  }
}

std::optional<PackingWorker::Buffered> PackingWorker::Pull(size_t g, DataStats& stats) {
  // Records keep coming but none can be packed (every one too long, say): a clear error, not a
  // silent hang.
  if (++fruitless_ > kMaxFruitlessReads) {
    std::string why;
    for (const auto& [reason, n] : stats.skipped) {
      why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
    }
    TORCH_CHECK(false, "data: ", kMaxFruitlessReads,
                " records read in a row without one that could be packed (this sequence: ",
                why.empty() ? "none skipped" : why,
                "); check max_num_tokens_per_sample and the datasets (docs/DATA.md)");
  }
  ReadResult r = readers_[g]->Read();
  if (!r.sample) {
    Skip(r.skip_reason, r.message, stats);
    return std::nullopt;
  }
  return Buffered{r.ref, std::move(*r.sample)};
}

WorkerBatch PackingWorker::Next() {
  SequencePacker packer(packer_config_, tokens_);
  WorkerBatch out;
  PackRandomness random{[this] { return rng_.Uniform(); }, [this] { return rng_.Normal(); }};
  auto too_long = [&](const Buffered& s) {
    Skip(kSkipTooLong,
         readers_[s.ref.group]->Describe(s.ref) + ": " + std::to_string(s.sample.cost()) +
             " tokens, more than max_num_tokens_per_sample " +
             std::to_string(budget_.max_num_tokens_per_sample),
         out.stats);
  };
  auto add = [&](const Buffered& s) {
    const std::string mismatch = PackerMismatch(s.sample.sample, packer_config_);
    if (!mismatch.empty()) {
      Skip(kSkipMalformed, readers_[s.ref.group]->Describe(s.ref) + ": " + mismatch, out.stats);
      return;
    }
    try {
      packer.Add(s.sample.sample, random);
    } catch (const c10::Error& e) {
      Skip(kSkipMalformed,
           readers_[s.ref.group]->Describe(s.ref) + ": " + e.what_without_backtrace(), out.stats);
      return;
    }
    out.samples.push_back(s.ref);
    out.stats.samples++;
    fruitless_ = 0;
  };
  for (;;) {
    if (packer.num_tokens() == 0) {
      for (size_t g = 0; g < readers_.size(); ++g) {
        if (!mandatory_[g]) continue;
        for (;;) {
          std::optional<Buffered> s = Pull(g, out.stats);
          if (!s) continue;
          if (s->sample.cost() < budget_.max_num_tokens_per_sample) {
            add(*s);
            break;
          }
          too_long(*s);
        }
      }
    }
    std::optional<Buffered> s;
    bool from_buffer = false;
    if (packer.num_tokens() < budget_.prefer_buffer_before && !buffer_.empty()) {
      s = std::move(buffer_.front());
      buffer_.pop_front();
      from_buffer = true;
    } else {
      const double n = rng_.Uniform();
      size_t g = 0;
      for (size_t i = 0; i < cumprobs_.size(); ++i) {
        if (n < cumprobs_[i]) {
          g = i;
          break;
        }
      }
      s = Pull(g, out.stats);
      if (!s) continue;
    }
    if (s->sample.cost() > budget_.max_num_tokens_per_sample) {
      too_long(*s);
      continue;
    }
    if (packer.num_tokens() + s->sample.cost() > budget_.max_num_tokens) {
      if (static_cast<int64_t>(buffer_.size()) < budget_.max_buffer_size && !from_buffer) {
        buffer_.push_back(std::move(*s));
        continue;
      }
      // The official loader yields here and drops the sample that did not fit.
      Skip(kSkipDroppedAtYield,
           readers_[s->ref.group]->Describe(s->ref) +
               ": did not fit the sequence (dropped as "
               "the official packer does)",
           out.stats);
      if (packer.num_tokens() == 0) continue;
      break;
    }
    add(*s);
    if (packer.num_tokens() >= budget_.expected_num_tokens) break;
  }
  out.stats.batches = 1;
  out.stats.tokens = packer.num_tokens();
  out.packed = packer.Finish();
  out.state_after = State();
  return out;
}

nlohmann::json PackingWorker::State() const {
  nlohmann::json groups = nlohmann::json::array(), buffer = nlohmann::json::array();
  for (const auto& r : readers_) groups.push_back(r->cursor().ToJson());
  for (const auto& b : buffer_) buffer.push_back(b.ref.ToJson());
  return {{"rng", Hex(rng_.state())}, {"groups", groups}, {"buffer", buffer}};
}

void PackingWorker::Restore(const nlohmann::json& state) {
  TORCH_CHECK(state.is_object() && state.contains("rng") && state.contains("groups") &&
                  state.contains("buffer"),
              "data state: a worker state needs rng, groups and buffer");
  const auto& groups = state["groups"];
  TORCH_CHECK(groups.size() == readers_.size(), "data state: ", groups.size(),
              " group cursors for ", readers_.size(), " data groups (the data groups changed?)");
  rng_.set_state(std::stoull(state["rng"].get<std::string>(), nullptr, 16));
  for (size_t g = 0; g < readers_.size(); ++g) {
    readers_[g]->set_cursor(ReaderCursor::FromJson(groups[g]));
  }
  buffer_.clear();
  DataStats ignored;
  for (const auto& j : state["buffer"]) {
    const SampleRef ref = SampleRef::FromJson(j);
    TORCH_CHECK(ref.group >= 0 && ref.group < static_cast<int>(readers_.size()),
                "data state: buffer entry of group ", ref.group, " out of range");
    ReadResult r = readers_[ref.group]->Rebuild(ref);
    if (!r.sample) {
      Skip(r.skip_reason, r.message + " (a buffered sample at resume)", ignored);
      continue;
    }
    buffer_.push_back({ref, std::move(*r.sample)});
  }
}

}  // namespace bagel::data
