// pipeline/version.h: the version string every output format records.
#pragma once

namespace smolvid::pipeline {

const char* version();

}  // namespace smolvid::pipeline
