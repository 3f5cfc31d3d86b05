// smolvid ask VIDEO|IMAGE "question" [--question Q ...] [--strategy NAME] [--max-frames N] [--fps F] [--dedup] [--json]
// Samples the video (or takes the image), asks every question about the same frames (encoded once)
// and streams each answer to stdout as it is generated. --json prints one document instead: the
// answers, the frames used (their presentation times) and the timings.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "cli/registry.h"
#include "cli/sampling_options.h"
#include "pipeline/jobs.h"
#include "sampler/sampler.h"

namespace smolvid::cli {
namespace {

const int kAskMaxNewTokens = pipeline::AskOptions{}.generation.max_new_tokens;

struct AskCliOptions {
  std::string input;
  std::string question;                // the positional question
  std::vector<std::string> more;       // each --question
  std::vector<std::string> questions;  // the positional question first, then each --question
  SamplingCliOptions sampling;
  bool json = false;
  TimeRangeOptions range;
  ModelCliOptions model;
};

void run_ask(AskCliOptions& o) {
  require_input(o.input);
  o.questions.clear();
  if (!o.question.empty()) o.questions.push_back(o.question);
  o.questions.insert(o.questions.end(), o.more.begin(), o.more.end());
  if (o.questions.empty()) throw CLI::RequiredError("a question (QUESTION or --question)");
  pipeline::AskOptions ask;
  ask.sampling = o.sampling.sampler_options();
  ask.generation = o.model.generation(kAskMaxNewTokens);
  ask.start_s = o.range.start_s();
  ask.end_s = o.range.end_s();
  std::unique_ptr<pipeline::Vlm> vlm = load_model(o.model);

  // With several questions each answer gets a "Qn: ... / An: " header; an answer that streams no
  // text still gets its header when a later one starts (or at the end).
  const bool several = o.questions.size() > 1;
  size_t opened = 0;  // answers whose header is printed
  auto open_through = [&](size_t question) {
    for (; opened <= question; ++opened) {
      if (opened > 0) std::fputs("\n", stdout);
      if (several) fmt::print("Q{}: {}\nA{}: ", opened + 1, o.questions[opened], opened + 1);
    }
  };
  pipeline::TextCallback stream;
  if (!o.json) {
    stream = [&](size_t question, const std::string& piece) {
      open_through(question);
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    };
  }
  const pipeline::AskResult result = pipeline::ask(*vlm, o.input, o.questions, ask, stream);
  if (o.json) {
    // Model text can hold invalid UTF-8 (a token cut inside a character): replaced, not fatal.
    fmt::print("{}\n", pipeline::ask_to_json(result).dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  open_through(o.questions.size() - 1);
  std::fputs("\n", stdout);
}

const Registrar kAsk(Group::kTop, 30, [](CLI::App& parent) {
  auto o = std::make_shared<AskCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "ask", "Ask questions about a video or an image; the answer streams to stdout (several questions reuse the "
             "encoded frames)");
  cmd->add_option("INPUT", o->input, "Video file, URL (rtsp://, http://) or image (png, jpg, bmp, webp, tif)")->required();
  cmd->add_option("QUESTION", o->question, "The question (more with --question)");
  cmd->add_option("--question,-q", o->more, "Another question about the same frames (repeatable)")->take_all();
  add_sampling_options(*cmd, o->sampling);
  add_time_range_options(*cmd, o->range);
  cmd->add_flag("--json", o->json,
                "Print one JSON document: answers with token counts and stop reasons, the frames used (pts_s) and "
                "timings (default: off, the answer streams as text)");
  add_model_options(*cmd, o->model, std::to_string(kAskMaxNewTokens));
  cmd->callback([o] { run_ask(*o); });
});

}  // namespace
}  // namespace smolvid::cli
