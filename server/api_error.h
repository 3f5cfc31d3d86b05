// server/api_error.h: an HTTP error in the OpenAI error format. Handlers throw ApiError; the server
// turns it into the status code and the body
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "messages", "code": null}}
// that OpenAI clients (the official SDKs, Frigate) parse into their own error types.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace smolvid::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::optional<std::string> param = std::nullopt,
           std::optional<std::string> code = std::nullopt)
      : std::runtime_error(std::move(message)), status(status), type(std::move(type)), param(std::move(param)), code(std::move(code)) {}

  int status;
  std::string type;
  std::optional<std::string> param;
  std::optional<std::string> code;

  nlohmann::json to_json() const {
    return {{"error",
             {{"message", what()},
              {"type", type},
              {"param", param ? nlohmann::json(*param) : nlohmann::json()},
              {"code", code ? nlohmann::json(*code) : nlohmann::json()}}}};
  }
};

// 400 invalid_request_error naming the field.
inline ApiError bad_request(const std::string& message, const std::string& param = "") {
  return ApiError(400, message, "invalid_request_error", param.empty() ? std::nullopt : std::optional<std::string>(param));
}

}  // namespace smolvid::server
