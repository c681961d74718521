#include "worker/fsdp/flat_unit.h"

#include <gtest/gtest.h>

#include <chrono>

namespace bagel::fsdp {
namespace {

struct Recorded {
  size_t nbytes;
  at::Device device;
};

UnitPlan TwoParameterPlan() {
  UnitPlan plan;
  plan.name = "unit";
  plan.params.push_back({"a.weight", at::empty({3, 4}).set_requires_grad(true)});
  plan.params.push_back({"b.bias", at::empty({5}).set_requires_grad(true)});
  return plan;
}

std::shared_ptr<dist::Communicator> OneRank() {
  return dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(10));
}

// Every gather of the full buffer asks the allocator for the unit's device, and the gathered
// parameters are the master values.
TEST(FlatUnitTest, EveryGatherAllocatesOnTheUnitsDevice) {
  std::vector<Recorded> calls;
  UnitPlacement placement;
  placement.resident_if_alone = false;  // the gather path, on one rank
  placement.allocate = [&](size_t nbytes, const at::Device& device) {
    calls.push_back({nbytes, device});
    return AllocateOnDevice(nbytes, device);
  };
  FlatUnit unit(TwoParameterPlan(), 0, 1, placement);
  unit.SetMaster([](const Slot& s) { return at::arange(s.numel, at::kFloat).view(s.shape); });
  unit.Attach();
  auto world = OneRank();
  for (int round = 0; round < 3; ++round) {
    unit.StartGather(*world).Wait();
    unit.MarkUnsharded();
    EXPECT_TRUE(unit.slots()[0].param.equal(at::arange(12, at::kFloat).view({3, 4})));
    EXPECT_TRUE(unit.slots()[1].param.equal(at::arange(5, at::kFloat)));
    EXPECT_EQ(unit.slots()[0].param.device(), at::Device(at::kCPU));
    unit.FreeFull();
  }
  ASSERT_EQ(calls.size(), 3u);
  for (const Recorded& c : calls) {
    EXPECT_EQ(c.device, at::Device(at::kCPU));
    EXPECT_EQ(c.nbytes, 17 * sizeof(float));
  }
  for (const at::Tensor* t :
       {&unit.master, &unit.grad, &unit.exp_avg, &unit.exp_avg_sq, &unit.ema}) {
    EXPECT_EQ(t->device(), at::Device(at::kCPU));
  }
}

// An allocator that hands back memory of another device (what the storage's own allocator does
// on a GPU rank whose current device was never set) is caught before any view uses it.
TEST(FlatUnitTest, AFullBufferOnAnotherDeviceIsRefused) {
  UnitPlacement placement;
  placement.resident_if_alone = false;  // the gather path, on one rank
  placement.allocate = [](size_t, const at::Device&) {
    return at::DataPtr(nullptr, at::Device(at::kMeta));
  };
  FlatUnit unit(TwoParameterPlan(), 0, 1, placement);
  unit.SetMaster([](const Slot& s) { return at::zeros(s.shape); });
  unit.Attach();
  auto world = OneRank();
  try {
    unit.StartGather(*world).Wait();
    ADD_FAILURE() << "a buffer on the wrong device was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("allocated on meta but the unit lives on cpu"),
              std::string::npos)
        << e.what();
  }
}

// Two of four ranks' view of a unit with a trainable and a frozen parameter in bf16: state
// (fp32) for the trainable shard only, the frozen shard once in bf16.
TEST(FlatUnitTest, StateExistsOnlyForTheTrainableShard) {
  UnitPlan plan;
  plan.name = "unit";
  plan.params.push_back({"a.weight", at::empty({3, 4}).set_requires_grad(true)});
  plan.params.push_back({"b.weight", at::empty({10}).set_requires_grad(false)});
  UnitPlacement placement;
  placement.resident_if_alone = false;  // the gather path, on one rank
  placement.compute_dtype = at::kBFloat16;
  FlatUnit unit(plan, /*shard_rank=*/1, /*shard_size=*/4, placement);
  unit.SetMaster([](const Slot& s) { return at::arange(s.numel, at::kFloat).view(s.shape); });
  unit.Attach();
  EXPECT_EQ(unit.trainable_shard_numel(), 3);
  EXPECT_EQ(unit.frozen_shard_numel(), 3);
  for (const at::Tensor* t :
       {&unit.master, &unit.grad, &unit.exp_avg, &unit.exp_avg_sq, &unit.ema}) {
    EXPECT_EQ(t->numel(), 3);
    EXPECT_EQ(t->scalar_type(), at::kFloat);
  }
  EXPECT_TRUE(unit.master.equal(at::arange(3, 6, at::kFloat)));
  EXPECT_EQ(unit.frozen.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(unit.frozen.equal(at::arange(3, 6, at::kBFloat16)));
  EXPECT_EQ(unit.padded_numel(), 24);
}

// With optimizer offload the gathered values are the compute shard, refreshed from the (host)
// master only by SyncComputeShard, as after an optimizer step.
TEST(FlatUnitTest, OffloadGathersTheComputeShardSyncedFromTheMaster) {
  UnitPlacement placement;
  placement.resident_if_alone = false;  // the gather path, on one rank
  placement.optimizer_offload = true;
  FlatUnit unit(TwoParameterPlan(), 0, 1, placement);
  unit.SetMaster([](const Slot& s) { return at::ones(s.shape); });
  unit.Attach();
  EXPECT_EQ(unit.state_device(), at::Device(at::kCPU));
  auto world = OneRank();
  unit.master.fill_(2.0);
  unit.StartGather(*world).Wait();
  EXPECT_TRUE(unit.slots()[1].param.equal(at::ones({5})));
  unit.FreeFull();
  unit.SyncComputeShard();
  unit.StartGather(*world).Wait();
  EXPECT_TRUE(unit.slots()[1].param.equal(at::full({5}, 2.0)));
  unit.FreeFull();
}

TEST(FlatUnitTest, TheDefaultAllocatorUsesTheDevicesAllocator) {
  const at::DataPtr p = AllocateOnDevice(64, at::kCPU);
  EXPECT_EQ(p.device(), at::Device(at::kCPU));
  EXPECT_NE(p.get(), nullptr);
}

// Alone in its shard group a unit stays gathered in one buffer, allocated once: in float32 its
// parameters are the master itself, so the optimizer's update is what the next forward reads.
TEST(FlatUnitTest, AUnitAloneIsResidentAndItsParametersAreTheMaster) {
  int allocations = 0;
  UnitPlacement placement;
  placement.allocate = [&](size_t nbytes, const at::Device& device) {
    ++allocations;
    return AllocateOnDevice(nbytes, device);
  };
  FlatUnit unit(TwoParameterPlan(), 0, 1, placement);
  unit.SetMaster([](const Slot& s) { return at::arange(s.numel, at::kFloat).view(s.shape); });
  unit.Attach();
  auto world = OneRank();
  EXPECT_TRUE(unit.resident());
  EXPECT_TRUE(unit.unsharded());
  unit.StartGather(*world).Wait();
  unit.FreeFull();
  EXPECT_TRUE(unit.unsharded());
  EXPECT_EQ(allocations, 1);
  EXPECT_TRUE(unit.slots()[1].param.equal(at::arange(5, at::kFloat)));
  unit.master.fill_(7.0f);
  EXPECT_TRUE(unit.slots()[0].param.eq(7.0f).all().item<bool>());
}

// In bf16 the resident buffer is the compute copy the optimizer step (or a load) refreshes.
TEST(FlatUnitTest, AResidentBf16UnitViewsItsComputeCopy) {
  UnitPlacement placement;
  placement.compute_dtype = at::kBFloat16;
  FlatUnit unit(TwoParameterPlan(), 0, 1, placement);
  unit.SetMaster([](const Slot& s) { return at::full(s.shape, 1.5f); });
  unit.Attach();
  EXPECT_EQ(unit.slots()[0].param.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(unit.slots()[0].param.eq(1.5f).all().item<bool>());
  unit.master.fill_(2.5f);
  unit.SyncComputeShard();
  EXPECT_TRUE(unit.slots()[1].param.eq(2.5f).all().item<bool>());
  EXPECT_EQ(unit.master.scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace bagel::fsdp
