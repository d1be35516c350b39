#include "engine/model/http.hpp"

#include <boost/algorithm/string/predicate.hpp>

namespace pigeon::engine {

std::string_view http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (boost::algorithm::iequals(k, name)) return v;
  return {};
}

namespace {
class http_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "pigeon.http"; }
  std::string message(int ev) const override {
    switch (static_cast<http_errc>(ev)) {
      case http_errc::connect_failed:
        return "could not connect (request not sent)";
      case http_errc::timed_out:
        return "timed out (outcome unknown)";
      case http_errc::connection_lost:
        return "connection lost mid-exchange (outcome unknown)";
      case http_errc::bad_response:
        return "malformed HTTP response";
      case http_errc::cancelled:
        return "cancelled";
      case http_errc::other:
        return "HTTP transport error";
    }
    return "unknown HTTP error";
  }
};
}  // namespace

const boost::system::error_category& http_category() {
  static const http_category_impl category;
  return category;
}

}  // namespace pigeon::engine
