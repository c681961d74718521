#include "worker/dist/communicator.h"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace bagel::dist {
namespace {

// Gloo's transport device: GLOO_SOCKET_IFNAME or BAGEL_GLOO_HOSTNAME when set, loopback for a
// loopback rendezvous (tests, one machine), else the address this machine's hostname resolves to.
std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& master_addr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (const char* host = std::getenv("BAGEL_GLOO_HOSTNAME"); host && *host) {
    return c10d::ProcessGroupGloo::createDeviceForHostname(host);
  }
  if (master_addr == "localhost" || master_addr.rfind("127.", 0) == 0) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Backend> MakeBackend(const c10::intrusive_ptr<c10d::Store>& store,
                                              int rank, int size, const at::Device& device,
                                              std::chrono::milliseconds timeout,
                                              const std::string& master_addr) {
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    ApplyNcclFailureSettings();
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
#else
    TORCH_CHECK(false, "this build has no NCCL support");
#endif
  }
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(GlooDevice(master_addr));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& NcclFailureSettings() {
  static const std::vector<std::pair<std::string, std::string>> settings = {
      // wait() blocks the host and throws after the group's timeout or on an NCCL error.
      {"TORCH_NCCL_BLOCKING_WAIT", "1"},
      // The watchdog aborts the communicators of a failed collective but never the process
      // (2 = CleanUpOnly; the default tears the process down).
      {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "2"},
      // Its heartbeat monitor would SIGABRT the process when the watchdog itself is stuck.
      {"TORCH_NCCL_ENABLE_MONITORING", "0"},
  };
  return settings;
}

void ApplyNcclFailureSettings() {
  for (const auto& [name, value] : NcclFailureSettings()) setenv(name.c_str(), value.c_str(), 1);
}

PendingCollective::PendingCollective(c10::intrusive_ptr<c10d::Work> work, std::string what,
                                     c10::intrusive_ptr<c10d::Backend> backend)
    : work_(std::move(work)), what_(std::move(what)), backend_(std::move(backend)) {
  cuda_ = backend_.defined() && backend_->getBackendName() == "nccl";
}

void PendingCollective::WaitOnStream() {
  if (!work_.defined()) return;
  if (!cuda_) {
    Wait();  // Gloo: CPU tensors are ready only when the work is done
    return;
  }
  auto work = std::move(work_);
  work_.reset();
  try {
    work->synchronize();  // the current stream waits on the NCCL stream; the host goes on
  } catch (const std::exception& e) {
    throw CollectiveError(what_ + " failed: " + e.what());
  }
}

void PendingCollective::Wait() {
  if (!work_.defined()) return;
  auto work = std::move(work_);
  work_.reset();
  try {
    work->wait();
  } catch (const std::exception& e) {
    const std::string why = e.what();
    if (backend_.defined()) {
      try {
        backend_->abort();
      } catch (...) {  // the error that matters is the collective's
      }
    }
    throw CollectiveError(what_ + " failed: " + why);
  }
}

Communicator::Communicator(int rank, int size, at::Device device, std::chrono::milliseconds timeout)
    : rank_(rank), size_(size), device_(device), timeout_(timeout) {}

Communicator::~Communicator() = default;

std::shared_ptr<Communicator> Communicator::Create(const DistEnv& env, const at::Device& device,
                                                   std::chrono::milliseconds timeout) {
  std::shared_ptr<Communicator> c(new Communicator(env.rank, env.world_size, device, timeout));
  for (int r = 0; r < env.world_size; ++r) c->world_ranks_.push_back(r);
  if (env.world_size == 1) return c;
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = env.rank == 0;
  opts.numWorkers = env.world_size;
  opts.waitWorkers = true;
  opts.timeout = timeout;
  if (env.rank == 0 && env.master_listen_fd >= 0) opts.masterListenFd = env.master_listen_fd;
  try {
    c->store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    c->master_addr_ = env.master_addr;
    c->master_port_ = env.master_port;
    c->backend_ = MakeBackend(c10::make_intrusive<c10d::PrefixStore>("world/", c->store_), env.rank,
                              env.world_size, device, timeout, env.master_addr);
  } catch (const std::exception& e) {
    throw CollectiveError(std::string("rendezvous at ") + env.master_addr + ":" +
                          std::to_string(env.master_port) + " failed: " + e.what());
  }
  return c;
}

std::shared_ptr<Communicator> Communicator::Subgroup(const std::vector<int>& members,
                                                     const std::string& tag) {
  int me = -1;
  for (size_t i = 0; i < members.size(); ++i) {
    TORCH_CHECK(members[i] >= 0 && members[i] < size_, "subgroup member ", members[i],
                " is not a rank of the world");
    if (members[i] == rank_) me = static_cast<int>(i);
  }
  TORCH_CHECK(me >= 0, "rank ", rank_, " is not a member of subgroup ", tag);
  std::shared_ptr<Communicator> c(
      new Communicator(me, static_cast<int>(members.size()), device_, timeout_));
  c->world_ranks_ = members;
  if (members.size() == 1) return c;
  TORCH_CHECK(store_.defined(), "subgroups need a world group with more than one rank");
  c->store_ = store_;
  c->master_addr_ = master_addr_;
  c->master_port_ = master_port_;
  try {
    c->backend_ =
        MakeBackend(c10::make_intrusive<c10d::PrefixStore>("group/" + tag + "/", store_), me,
                    static_cast<int>(members.size()), device_, timeout_, master_addr_);
  } catch (const std::exception& e) {
    throw CollectiveError("creating subgroup " + tag + " failed: " + e.what());
  }
  return c;
}

void Communicator::Check(const char* what) const {
  TORCH_INTERNAL_ASSERT(size_ == 1 || backend_.defined(), what, ": no backend");
}

void Communicator::AllReduceSum(at::Tensor& tensor, bool host_wait) {
  if (size_ == 1) return;
  Check("allreduce");
  std::vector<at::Tensor> tensors = {tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  PendingCollective work(backend_->allreduce(tensors, options), "allreduce", backend_);
  if (host_wait) {
    work.Wait();
  } else {
    work.WaitOnStream();
  }
}

PendingCollective Communicator::AllGatherAsync(at::Tensor& out, at::Tensor& in) {
  TORCH_INTERNAL_ASSERT(out.numel() == in.numel() * size_, "allgather: output size mismatch");
  if (size_ == 1) {
    if (!out.is_same(in)) out.copy_(in);
    return {};
  }
  Check("allgather");
  return PendingCollective(backend_->_allgather_base(out, in), "allgather", backend_);
}

PendingCollective Communicator::ReduceScatterSumAsync(at::Tensor& out, at::Tensor& in) {
  TORCH_INTERNAL_ASSERT(in.numel() == out.numel() * size_, "reduce_scatter: input size mismatch");
  if (size_ == 1) {
    if (!out.is_same(in)) out.copy_(in);
    return {};
  }
  Check("reduce_scatter");
  c10d::ReduceScatterOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  return PendingCollective(backend_->_reduce_scatter_base(out, in, options), "reduce_scatter",
                           backend_);
}

void Communicator::Barrier() {
  if (size_ == 1) return;
  Check("barrier");
  PendingCollective(backend_->barrier(), "barrier", backend_).Wait();
}

void Communicator::WaitForRankZero(const std::string& key) {
  if (size_ == 1) return;
  Check("wait for rank 0");
  const std::string k = "rank0_done/" + key;
  try {
    if (rank_ == 0) {
      store_->set(k, std::vector<uint8_t>{1});
    } else {
      store_->wait({k}, std::chrono::hours(24 * 7));
    }
  } catch (const std::exception& e) {
    throw CollectiveError("waiting for rank 0 (" + key + ") failed: " + e.what());
  }
  // Everyone is here now: a short barrier keeps rank 0, which serves the store, alive until every
  // wait has returned.
  Barrier();
}

}  // namespace bagel::dist

namespace bagel::dist {

c10d::Store& Communicator::SideStore() {
  std::lock_guard<std::mutex> lock(side_store_mu_);
  if (!side_store_.defined()) {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(master_port_);
    opts.isServer = false;
    opts.waitWorkers = false;
    opts.timeout = timeout_;
    side_store_ = c10::make_intrusive<c10d::TCPStore>(master_addr_, opts);
  }
  return *side_store_;
}

void Communicator::Post(const std::string& key, const std::string& value) {
  if (!store_.defined()) {
    std::lock_guard<std::mutex> lock(posts_mu_);
    posts_[key] = value;
    posts_cv_.notify_all();
    return;
  }
  try {
    SideStore().set("post/" + key, std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    throw CollectiveError("posting " + key + " failed: " + e.what());
  }
}

std::string Communicator::Await(const std::string& key, std::chrono::milliseconds timeout) {
  if (!store_.defined()) {
    std::unique_lock<std::mutex> lock(posts_mu_);
    if (!posts_cv_.wait_for(lock, timeout, [&] { return posts_.count(key) > 0; }))
      throw CollectiveError("waiting for " + key + " timed out");
    return posts_.at(key);
  }
  try {
    c10d::Store& store = SideStore();
    store.wait({"post/" + key}, timeout);
    const std::vector<uint8_t> v = store.get("post/" + key);
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    throw CollectiveError("waiting for " + key + " failed: " + e.what());
  }
}

}  // namespace bagel::dist
