#include "model/runtime/batched_transfer.h"

#include <gtest/gtest.h>

namespace bagel {
namespace {

// The packing, the offsets and the views, with a CPU target that differs from the tensors' own
// device (`cpu:0` against `cpu`), so every defined tensor goes the way it goes to a GPU.
TEST(BatchedTransferTest, EveryTensorComesBackWithItsDtypeShapeAndValues) {
  at::manual_seed(3);
  at::Tensor ids = at::randint(0, 1000, {37}, at::kLong);
  at::Tensor weights = at::rand({5, 3}, at::kFloat);
  at::Tensor mask = at::rand({4, 4}).gt(0.5);
  at::Tensor half = at::rand({7}, at::kFloat).to(at::kBFloat16);
  at::Tensor strided = at::arange(12, at::kInt).view({3, 4}).t();  // not contiguous
  at::Tensor absent;
  std::vector<at::Tensor> originals = {ids, weights, mask, half, strided};
  std::vector<at::Tensor> moved = originals;
  at::Tensor moved_absent = absent;
  std::vector<at::Tensor*> pointers;
  for (auto& t : moved) pointers.push_back(&t);
  pointers.push_back(&moved_absent);
  TransferTogether(pointers, at::Device(at::kCPU, 0));
  EXPECT_FALSE(moved_absent.defined());
  const void* storage = moved[0].storage().data();
  for (size_t i = 0; i < originals.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(moved[i].scalar_type(), originals[i].scalar_type());
    EXPECT_EQ(moved[i].sizes(), originals[i].sizes());
    EXPECT_TRUE(moved[i].equal(originals[i]));
    EXPECT_EQ(moved[i].storage().data(), storage);  // one buffer: one transfer
    EXPECT_EQ(moved[i].storage_offset() * moved[i].element_size() % 64, 0);
  }
  // The views do not alias the originals.
  moved[0].zero_();
  EXPECT_NE(ids.abs().sum().item<int64_t>(), 0);
}

TEST(BatchedTransferTest, TensorsAlreadyThereAreLeftAlone) {
  at::Tensor t = at::ones({3});
  const at::Tensor before = t;
  TransferTogether({&t}, at::kCPU);
  EXPECT_TRUE(t.is_same(before));
}

}  // namespace
}  // namespace bagel
