#include "model/vae/flux_vae_params.h"

#include <c10/util/Exception.h>

#include <set>
#include <sstream>

namespace bagel::vae {
namespace {

const io::SafetensorsEntry& Need(const io::SafetensorsFile& file, const std::string& key,
                                 size_t rank) {
  TORCH_CHECK(file.Contains(key), file.path(), ": missing tensor '", key,
              "' (needed to infer the VAE's shape)");
  const io::SafetensorsEntry& e = file.Entry(key);
  TORCH_CHECK(e.shape.size() == rank, file.path(), ": tensor '", key, "' has rank ", e.shape.size(),
              ", expected ", rank);
  return e;
}

// The distinct integers <i> of keys "<prefix><i>.".
std::set<int64_t> Indices(const io::SafetensorsFile& file, const std::string& prefix) {
  std::set<int64_t> out;
  for (const auto& [name, entry] : file.entries()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t begin = prefix.size(), dot = name.find('.', begin);
    if (dot == std::string::npos || dot == begin) continue;
    const std::string digits = name.substr(begin, dot - begin);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.insert(std::stoll(digits));
  }
  return out;
}

}  // namespace

std::string FluxVaeParams::Describe() const {
  std::ostringstream s;
  s << "ch " << ch << ", ch_mult [";
  for (size_t i = 0; i < ch_mult.size(); ++i) s << (i ? "," : "") << ch_mult[i];
  s << "], " << num_res_blocks << " res blocks, z " << z_channels;
  return s.str();
}

void FluxVaeParams::Validate() const {
  TORCH_CHECK(in_channels > 0 && out_channels > 0, "VAE: channel counts must be positive");
  TORCH_CHECK(ch > 0 && ch % 32 == 0, "VAE: ch must be a positive multiple of 32, got ", ch);
  TORCH_CHECK(!ch_mult.empty(), "VAE: ch_mult is empty");
  for (int64_t m : ch_mult) TORCH_CHECK(m > 0, "VAE: ch_mult entries must be positive");
  TORCH_CHECK(num_res_blocks > 0, "VAE: num_res_blocks must be positive, got ", num_res_blocks);
  TORCH_CHECK(z_channels > 0, "VAE: z_channels must be positive, got ", z_channels);
  TORCH_CHECK(scale_factor != 0, "VAE: scale_factor must not be zero");
}

FluxVaeParams FluxDevVaeParams() { return FluxVaeParams{}; }

FluxVaeParams InferFluxVaeParams(const io::SafetensorsFile& file) {
  FluxVaeParams p;
  const auto& conv_in = Need(file, "encoder.conv_in.weight", 4);
  p.ch = conv_in.shape[0];
  p.in_channels = conv_in.shape[1];
  const std::set<int64_t> levels = Indices(file, "encoder.down.");
  TORCH_CHECK(!levels.empty(), file.path(), ": no 'encoder.down.<i>.*' tensors");
  TORCH_CHECK(*levels.rbegin() == static_cast<int64_t>(levels.size()) - 1, file.path(),
              ": encoder.down levels are not numbered 0..", levels.size() - 1);
  p.ch_mult.clear();
  for (int64_t i : levels) {
    const std::string key = "encoder.down." + std::to_string(i) + ".block.0.conv2.weight";
    const int64_t out = Need(file, key, 4).shape[0];
    TORCH_CHECK(out % p.ch == 0, file.path(), ": tensor '", key, "' has ", out,
                " output channels, not a multiple of ch = ", p.ch);
    p.ch_mult.push_back(out / p.ch);
  }
  const std::set<int64_t> blocks = Indices(file, "encoder.down.0.block.");
  p.num_res_blocks = static_cast<int64_t>(blocks.size());
  const auto& dec_in = Need(file, "decoder.conv_in.weight", 4);
  p.z_channels = dec_in.shape[1];
  p.out_channels = Need(file, "decoder.conv_out.weight", 4).shape[0];
  p.Validate();
  return p;
}

}  // namespace bagel::vae
