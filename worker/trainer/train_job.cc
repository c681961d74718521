#include "worker/trainer/train_job.h"

#include "worker/trainer/trainer.h"

namespace bagel::train {

contract::ExitCode RunTrainJob(const config::JobSpec& spec, const TrainJobOptions& options) {
  Trainer trainer(spec, options);
  return trainer.Run();
}

}  // namespace bagel::train
