// SIGTERM / SIGINT as a request to stop at the next step boundary (after writing a checkpoint),
// agreed over all ranks so every rank stops at the same step.
#pragma once

namespace bagel::train {

void InstallStopSignalHandlers();
bool StopRequested();
// Before the loop there is no step boundary to stop at: a signal exits at once (143 / 130).
// Inside it a signal requests a stop at the next step boundary (repeats change nothing: a rank
// stuck in a collective ends by the collective timeout, or by the agent's SIGKILL).
void SetInTrainingLoop(bool in_loop);
void RequestStopForTest();

}  // namespace bagel::train
