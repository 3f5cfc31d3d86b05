// `smolvid debug render-chat` run as a user would, against jinja2 rendering the same template the
// way transformers does (tests/text/data/render_chat_reference.py): message text with every
// control character (C0, DEL, C1, line/paragraph separators, CR LF) must come out exactly as the
// reference prints it, whether a template prints the text itself, its repr (a whole content list)
// or splits and strips it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "model/text_unicode.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

using nlohmann::json;

// Every control character, the Unicode line breaks and a few other non-printable code points,
// then CR LF, a lone CR and LF between words.
std::string every_control_character() {
  std::string s;
  for (char32_t cp = 0; cp < 0x20; ++cp) text::append_utf8(s, cp);
  text::append_utf8(s, 0x7F);
  for (char32_t cp = 0x80; cp < 0xA0; ++cp) text::append_utf8(s, cp);
  for (char32_t cp : {0xA0, 0xAD, 0x2028, 0x2029, 0x200B, 0x3000, 0xFEFF}) text::append_utf8(s, cp);
  return s + "one\r\ntwo\rthree\nfour";
}

struct Rendered {
  std::string ours_json;  // smolvid --json
  std::string ours_raw;   // smolvid, raw bytes
  std::string reference;  // jinja2
};

Rendered render_both(const test::TempDir& dir, const std::string& template_arg, const std::string& reference_template) {
  const json messages = json::array({{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", every_control_character()}}})}},
                                     {{"role", "assistant"}, {"content", json::array({{{"type", "text"}, {"text", "ok\r\n"}}})}}});
  const std::string messages_path = dir.file("messages.json");
  test::write_file(messages_path, messages.dump());
  const std::string smolvid = test::shell_quote(test::binary_dir() + "/cli/smolvid") + " debug render-chat --add-generation-prompt --model " +
                              test::shell_quote(test::golden("tiny-smolvlm")) + template_arg + " " + test::shell_quote(messages_path);
  const test::CommandResult raw = test::run_command(smolvid);
  const test::CommandResult js = test::run_command(smolvid + " --json");
  const test::CommandResult ref =
      test::run_command("/usr/bin/python3 " + test::shell_quote(test::source_dir() + "/tests/text/data/render_chat_reference.py") + " " +
                        test::shell_quote(reference_template) + " " + test::shell_quote(messages_path) + " --add-generation-prompt");
  EXPECT_EQ(raw.exit_code, 0);
  EXPECT_EQ(js.exit_code, 0);
  EXPECT_EQ(ref.exit_code, 0) << "the reference needs /usr/bin/python3 with jinja2 (python3-jinja2)";
  Rendered r;
  r.ours_raw = raw.output;
  r.ours_json = json::parse(js.output).at("prompt").get<std::string>();
  r.reference = json::parse(ref.output).at("prompt").get<std::string>();
  return r;
}

TEST(DebugRenderChat, CheckpointTemplateKeepsEveryCharacterOfMessageText) {
  const test::TempDir dir;
  const Rendered r = render_both(dir, "", test::golden("tiny-smolvlm/chat_template.json"));
  EXPECT_EQ(r.ours_json, r.reference);
  EXPECT_EQ(r.ours_raw, r.reference);
  // The spec's reading of the Hub template (6.1): the text verbatim between "User: " and the end.
  EXPECT_NE(r.reference.find("User: " + every_control_character() + "<end_of_utterance>\n"), std::string::npos);
  EXPECT_NE(r.reference.find("Assistant: ok\r\n<end_of_utterance>\nAssistant:"), std::string::npos);
}

TEST(DebugRenderChat, ReprSplitAndStripOfMessageTextFollowPython) {
  const test::TempDir dir;
  // A template that prints whole content lists (repr), splits the text on whitespace and strips it.
  const std::string tmpl =
      "{% for m in messages %}{{ m['content'] }}|{{ m['content'][0]['text'].split() }}|"
      "{{ m['content'][0]['text'].split() | length }}|{{ m['content'][0]['text'] | trim }}|"
      "{{ m['content'][0]['text'].strip() | length }}\n{% endfor %}";
  const std::string path = dir.file("t.jinja");
  test::write_file(path, tmpl);
  const Rendered r = render_both(dir, " --template " + test::shell_quote(path), path);
  EXPECT_EQ(r.ours_json, r.reference);
  EXPECT_EQ(r.ours_raw, r.reference);
}

}  // namespace
}  // namespace smolvid::model
