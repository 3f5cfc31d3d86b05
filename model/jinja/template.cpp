// jinja::Template (see jinja.h): newline normalisation of the source, then lex, parse, render.
#include "model/jinja/jinja.h"

#include "model/jinja/lexer.h"
#include "model/jinja/parser.h"
#include "model/jinja/renderer.h"

namespace smolvid::model::jinja {

Template::Template(std::string source, std::string name, Options options)
    : source_(std::move(source)), name_(std::move(name)), program_(std::make_unique<Program>()) {
  // jinja2 normalizes newlines to "\n" and drops one trailing newline unless keep_trailing_newline.
  std::string src;
  src.reserve(source_.size());
  for (size_t i = 0; i < source_.size(); ++i) {
    if (source_[i] == '\r') {
      src.push_back('\n');
      if (i + 1 < source_.size() && source_[i + 1] == '\n') ++i;
    } else {
      src.push_back(source_[i]);
    }
  }
  if (!options.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();
  source_ = src;
  const SourceRef ref{&source_, &name_};
  program_->nodes = parse(lex(source_, options, ref), ref, options.max_nesting);
  program_->options = options;
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& context) const {
  std::string out;
  jinja::render(*program_, context, SourceRef{&source_, &name_}, out);
  return out;
}

}  // namespace smolvid::model::jinja
