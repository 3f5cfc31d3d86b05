// model/jinja/renderer.h (internal): evaluates a parsed template against a context, walking the
// syntax tree (scopes for loops and `set`, loop variables, filters, tests, methods).
#pragma once

#include <string>

#include "model/jinja/parser.h"
#include "model/jinja/source.h"

namespace smolvid::model::jinja {

// Appends the output of `program` rendered with the keys of `context` (a JSON object) to out.
// Throws TemplateError (via ref) on runtime errors and when the render exceeds a budget of
// program.options (max_steps, max_output_bytes).
void render(const Program& program, const json& context, const SourceRef& ref, std::string& out);

}  // namespace smolvid::model::jinja
