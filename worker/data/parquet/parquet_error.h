// The one exception type of the Parquet layer: a file that cannot be opened, read or decoded, or
// a column whose type is not what the dataset format needs. The message names the file (and
// the column and row group), so a data reader can count the record as skipped and log it as is.
#pragma once

#include <stdexcept>

namespace bagel::data::parquet {

class ParquetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bagel::data::parquet
