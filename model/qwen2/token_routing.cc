#include "model/qwen2/token_routing.h"

#include <c10/util/Exception.h>

namespace bagel {

TokenRouting TokenRouting::Make(const at::Tensor& und, const at::Tensor& gen, int64_t num_tokens,
                                bool freeze_und, bool grouped, std::optional<bool> is_partition) {
  TokenRouting r;
  r.und = und.to(at::kLong);
  r.gen = gen.defined() ? gen.to(at::kLong) : at::empty({0}, und.options().dtype(at::kLong));
  r.freeze_und = freeze_und;
  if (r.und.numel() + r.gen.numel() == num_tokens) {
    at::Tensor all = at::cat({r.und, r.gen});
    at::Tensor inverse = at::full({num_tokens}, -1, all.options());
    inverse.index_put_({all}, at::arange(num_tokens, all.options()));
    // A partition of the sequence (known on the host, else read from the device).
    if (is_partition ? *is_partition : inverse.min().item<int64_t>() >= 0) {
      r.merge_index = inverse;
      r.group_order = all;
      r.grouped = grouped;
    }
  }
  return r;
}

at::Tensor TokenRouting::Und(const at::Tensor& x) const {
  return grouped ? x.narrow(0, 0, und.numel()) : x.index_select(0, und);
}

at::Tensor TokenRouting::Gen(const at::Tensor& x) const {
  return grouped ? x.narrow(0, und.numel(), gen.numel()) : x.index_select(0, gen);
}

at::Tensor TokenRouting::Merge(const at::Tensor& und_rows, const at::Tensor& gen_rows,
                               int64_t num_tokens) const {
  if (grouped) return at::cat({und_rows, gen_rows});
  if (merge_index.defined()) {
    return at::cat({und_rows, gen_rows}).index_select(0, merge_index);
  }
  std::vector<int64_t> shape = und_rows.sizes().vec();
  shape[0] = num_tokens;
  at::Tensor out = at::zeros(shape, und_rows.options());
  out = out.index_put({und}, und_rows);
  if (gen.numel() > 0) out = out.index_put({gen}, gen_rows);
  return out;
}

at::Tensor TokenRouting::ToSequence(const at::Tensor& x) const {
  return grouped ? x.index_select(0, merge_index) : x;
}

at::Tensor TokenRouting::ToGrouped(const at::Tensor& x) const {
  return grouped ? x.index_select(0, group_order) : x;
}

}  // namespace bagel
