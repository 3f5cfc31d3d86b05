#include "pipeline/version.h"

namespace smolvid::pipeline {

const char* version() { return "0.1.0"; }

}  // namespace smolvid::pipeline
