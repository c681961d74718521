// SIGTERM / SIGINT as a request to stop at the next step boundary (after writing a checkpoint),
// agreed over all ranks so every rank stops at the same step.
#pragma once

namespace bagel::train {

void InstallStopSignalHandlers();
bool StopRequested();
void RequestStopForTest();

}  // namespace bagel::train
