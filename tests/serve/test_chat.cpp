// server/chat.h without a model: request parsing (prompt composition, field errors naming their
// param, media rules) and the stop-sequence filter of streamed text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/chat.h"

namespace smolvid::server {
namespace {

using nlohmann::json;

PreparedChat prepare(const json& body) {
  static const MediaDirs kNoDirs({});
  return prepare_chat(body, kNoDirs, ChatLimits{}, "/tmp");
}

// The ApiError a body raises: (status, param).
std::pair<int, std::string> error_of(const json& body) {
  try {
    prepare(body);
  } catch (const ApiError& e) {
    return {e.status, e.param.value_or("")};
  }
  return {0, "no error"};
}

json user(const json& content) { return json::array({{{"role", "user"}, {"content", content}}}); }

TEST(ChatRequest, ComposesSystemEarlierTurnsAndTheLastQuestion) {
  const PreparedChat c = prepare({{"messages", json::array({{{"role", "system"}, {"content", "Be brief."}},
                                                            {{"role", "user"}, {"content", "Hi"}},
                                                            {{"role", "assistant"}, {"content", "Hello."}},
                                                            {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "What now?"}}})}}})},
                                  {"max_completion_tokens", 7},
                                  {"temperature", 0.5},
                                  {"seed", 42},
                                  {"stop", "END"}});
  EXPECT_EQ(c.prompt, "Be brief.\n\nUser: Hi\nAssistant: Hello.\nWhat now?");
  EXPECT_EQ(c.kind, pipeline::MediaKind::kNone);
  EXPECT_EQ(c.generation.max_new_tokens, 7);
  EXPECT_DOUBLE_EQ(c.generation.temperature, 0.5);
  EXPECT_EQ(c.generation.seed, 42u);
  EXPECT_EQ(c.stop, std::vector<std::string>{"END"});
  EXPECT_FALSE(c.stream);
}

TEST(ChatRequest, EachBadFieldIs400NamingIt) {
  EXPECT_EQ(error_of(json::array()), (std::pair<int, std::string>{400, ""}));
  EXPECT_EQ(error_of({{"model", "x"}}), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"max_tokens", 0}}), (std::pair<int, std::string>{400, "max_tokens"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"max_tokens", 5000}}), (std::pair<int, std::string>{400, "max_tokens"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"top_p", 0}}), (std::pair<int, std::string>{400, "top_p"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"n", 3}}), (std::pair<int, std::string>{400, "n"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"stop", json::array({"a", "b", "c", "d", "e"})}}), (std::pair<int, std::string>{400, "stop"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"stream", "yes"}}), (std::pair<int, std::string>{400, "stream"}));
  EXPECT_EQ(error_of({{"messages", user("hi")}, {"smolvid", {{"strategy", "best"}}}}), (std::pair<int, std::string>{400, "smolvid.strategy"}));
  EXPECT_EQ(error_of({{"messages", user(json::array({{{"type", "audio"}}}))}}), (std::pair<int, std::string>{400, "messages[0].content[0].type"}));
  EXPECT_EQ(error_of({{"messages", json::array({{{"role", "tool"}, {"content", "x"}}})}}), (std::pair<int, std::string>{400, "messages[0].role"}));
  EXPECT_EQ(error_of({{"messages", json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}}})}}),
            (std::pair<int, std::string>{400, "messages"}));
}

TEST(ChatRequest, MediaRules) {
  const json video = {{"type", "video_url"}, {"video_url", {{"url", "a.mp4"}}}};
  const json image = {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}};
  // Two videos, or a video with an image: refused before anything is read.
  EXPECT_EQ(error_of({{"messages", user(json::array({video, video}))}}), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of({{"messages", user(json::array({video, image}))}}), (std::pair<int, std::string>{400, "messages"}));
  // Without --media-dir no path is readable: 403, naming the part.
  EXPECT_EQ(error_of({{"messages", user(json::array({video}))}}), (std::pair<int, std::string>{403, "messages[0].content[0].video_url"}));
  // Bytes that are not an image: 400 naming the part.
  EXPECT_EQ(error_of({{"messages", user(json::array({image}))}}), (std::pair<int, std::string>{400, "messages[0].content[0].image_url"}));
  // Images belong to user messages.
  EXPECT_EQ(error_of({{"messages", json::array({{{"role", "system"}, {"content", json::array({image})}}, {{"role", "user"}, {"content", "x"}}})}}),
            (std::pair<int, std::string>{400, "messages[0].content[0]"}));
}

TEST(StopFilter, NeverEmitsAStopSequenceEvenSplitAcrossPieces) {
  StopFilter f({"<END>", "##"});
  std::string out;
  for (const char* piece : {"Hello <", "EN", "D> never"}) out += f.push(piece);
  EXPECT_EQ(out, "Hello ");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("more"), "");
  EXPECT_EQ(f.finish(), "");
}

TEST(StopFilter, HeldBackPrefixIsReleasedWhenItIsNotAStop) {
  StopFilter f({"<END>"});
  EXPECT_EQ(f.push("a <E"), "a ");     // "<E" may start "<END>"
  EXPECT_EQ(f.push("X"), "<EX");        // it did not
  EXPECT_EQ(f.push("tail <"), "tail ");
  EXPECT_EQ(f.finish(), "<");            // the end: nothing more can complete it
  EXPECT_FALSE(f.stopped());
}

}  // namespace
}  // namespace smolvid::server
