// model/jinja/source.h (internal): what every stage shares: the JSON value type and errors that
// point into the template source.
#pragma once

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <string>

#include "model/jinja/jinja.h"

namespace smolvid::model::jinja {

// Python dicts keep insertion order; so do these values (a template may print a whole dict).
using json = nlohmann::ordered_json;

// The template being processed, for error messages "NAME: WHAT (line L, column C)".
struct SourceRef {
  const std::string* source;
  const std::string* name;

  [[noreturn]] void fail(size_t pos, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos && i < source->size(); ++i) {
      if ((*source)[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw TemplateError(fmt::format("{}: {} (line {}, column {})", *name, what, line, col));
  }
};

}  // namespace smolvid::model::jinja
