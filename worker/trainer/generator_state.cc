#include "worker/trainer/generator_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

namespace bagel::train {

at::Generator MakeGenerator(const at::Device& device, uint64_t seed) {
  at::Generator gen = device.is_cuda() ? at::detail::getCUDAHooks().getNewGenerator(device.index())
                                       : at::detail::createCPUGenerator(seed);
  gen.set_current_seed(seed);
  return gen;
}

std::string GeneratorStateHex(const at::Generator& gen) {
  at::Tensor s = gen.get_state().contiguous();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  const auto* p = s.data_ptr<uint8_t>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

void SetGeneratorStateHex(at::Generator& gen, const std::string& hex) {
  at::Tensor s = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  auto* p = s.data_ptr<uint8_t>();
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    p[i / 2] = static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  gen.set_state(s);
}

}  // namespace bagel::train
