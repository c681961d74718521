// Reasons a dataset record is skipped (the keys of DataStats::skipped): the trainer reports
// them in its step events and bagel-worker exports them as the `reason` label of
// bagel_rank_data_skipped_records_total. Header-only and free of LibTorch, so the agent can
// read the same list.
#pragma once

#include <array>
#include <string_view>

namespace bagel::contract {

inline constexpr const char* kSkipMissingImage = "missing_image";
inline constexpr const char* kSkipBadImage = "bad_image";
inline constexpr const char* kSkipMalformed = "malformed";
inline constexpr const char* kSkipNoLoss = "no_loss";
inline constexpr const char* kSkipUnsupported = "unsupported";
inline constexpr const char* kSkipTooLong = "too_long";
inline constexpr const char* kSkipUnreadable = "unreadable_file";
inline constexpr const char* kSkipDroppedAtYield = "dropped_at_yield";

// Every reason above; anything else is reported as kSkipOther, so the label stays bounded.
inline constexpr std::array<const char*, 8> kAllSkipReasons = {
    kSkipMissingImage, kSkipBadImage, kSkipMalformed,  kSkipNoLoss,
    kSkipUnsupported,  kSkipTooLong,  kSkipUnreadable, kSkipDroppedAtYield};
inline constexpr const char* kSkipOther = "other";

// The reason as reported: itself when it is one of kAllSkipReasons, else kSkipOther.
inline const char* ReportedSkipReason(std::string_view reason) {
  for (const char* known : kAllSkipReasons) {
    if (reason == known) return known;
  }
  return kSkipOther;
}

}  // namespace bagel::contract
