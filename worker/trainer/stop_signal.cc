#include "worker/trainer/stop_signal.h"

#include <csignal>
#include <cstdlib>

namespace bagel::train {
namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_in_loop = 0;

void OnSignal(int sig) {
  if (!g_in_loop) std::_Exit(128 + sig);
  g_stop = 1;
}

}  // namespace

void InstallStopSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

bool StopRequested() { return g_stop != 0; }

void SetInTrainingLoop(bool in_loop) { g_in_loop = in_loop ? 1 : 0; }

void RequestStopForTest() { g_stop = 1; }

}  // namespace bagel::train
