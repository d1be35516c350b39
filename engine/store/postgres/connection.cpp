#include "engine/store/postgres/connection.hpp"

#include <libpq-fe.h>

#include <cassert>
#include <charconv>
#include <regex>

#include "engine/store/transactions.hpp"

namespace pigeon::engine::postgres {

// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db"; "password=x" -> "***".
std::string mask_password(const std::string& conninfo) {
  static const std::regex uri(R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)");
  static const std::regex kv(R"((password\s*=\s*)('[^']*'|\S+))");
  auto masked = std::regex_replace(conninfo, uri, "$1***@");
  return std::regex_replace(masked, kv, "$1***");
}

namespace {

std::string message_of(const PGconn* conn, const PGresult* result) {
  std::string text = result ? PQresultErrorMessage(result) : "";
  if (text.empty() && conn) text = PQerrorMessage(conn);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (result) {
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE))
      text += " (SQLSTATE " + std::string(state) + ")";
  }
  return text.empty() ? "unknown PostgreSQL error" : text;
}

// Frees a PGresult when it goes out of scope.
struct result_guard {
  PGresult* r;
  ~result_guard() { PQclear(r); }
};

}  // namespace

connection::connection(const std::string& conninfo) : target_(mask_password(conninfo)) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (conn_ == nullptr) throw store_error("cannot connect to " + target_ + ": out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = message_of(conn_, nullptr);
    PQfinish(conn_);
    conn_ = nullptr;
    throw store_error("cannot connect to " + target_ + ": " + why);
  }
  // Notices (e.g. "there is no transaction in progress") are not the user's business.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

connection::~connection() {
  if (conn_) PQfinish(conn_);
}

void connection::fail(const pg_result* result, std::string_view context) const {
  throw store_error(message_of(conn_, result) + " [" + std::string(context) + "]");
}

void connection::exec(const std::string& sql) {
  result_guard r{PQexec(conn_, sql.c_str())};
  auto status = PQresultStatus(r.r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r.r, sql);
}

std::int64_t connection::query_int(const std::string& sql) {
  result_guard r{PQexec(conn_, sql.c_str())};
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK) fail(r.r, sql);
  if (PQntuples(r.r) == 0 || PQgetisnull(r.r, 0, 0)) return 0;
  std::int64_t value = 0;
  const char* text = PQgetvalue(r.r, 0, 0);
  std::from_chars(text, text + PQgetlength(r.r, 0, 0), value);
  return value;
}

bool connection::in_transaction() const {
  auto status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

void connection::set_session(const std::string& sql) {
  exec(sql);
  session_ += sql + ";";
}

bool connection::lost() const { return PQstatus(conn_) == CONNECTION_BAD; }

void connection::reconnect() {
  statements_.clear();
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK)
    throw store_error("cannot reconnect to " + target_ + ": " + message_of(conn_, nullptr));
  if (!session_.empty()) exec(session_);
}

const std::string& connection::prepared(const std::string& sql, int params) {
  auto found = statements_.find(sql);
  if (found != statements_.end()) return found->second;
  std::string name = "p" + std::to_string(statements_.size() + 1);
  result_guard r{PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr)};
  if (PQresultStatus(r.r) != PGRES_COMMAND_OK) fail(r.r, sql);
  return statements_.emplace(sql, std::move(name)).first->second;
}

query::query(connection& db, std::string sql) : db_(db), sql_(std::move(sql)) {}

query::~query() { PQclear(result_); }

query& query::bind(int index, std::int64_t value) {
  return bind(index, std::string_view(std::to_string(value)));
}

query& query::bind(int index, std::string_view value) {
  assert(index >= 1);
  if (params_.size() < static_cast<std::size_t>(index)) params_.resize(index);
  params_[index - 1] = std::string(value);
  return *this;
}

query& query::bind(int index, time_point value) { return bind(index, to_ms(value)); }

query& query::bind(int index, std::nullopt_t) {
  assert(index >= 1);
  if (params_.size() < static_cast<std::size_t>(index)) params_.resize(index);
  params_[index - 1].reset();
  return *this;
}

void query::reset() {
  PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  rows_ = 0;
  params_.clear();
}

void query::execute() {
  const auto& name = db_.prepared(sql_, static_cast<int>(params_.size()));
  std::vector<const char*> values;
  values.reserve(params_.size());
  for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
  result_ = PQexecPrepared(db_.handle(), name.c_str(), static_cast<int>(values.size()),
                           values.data(), nullptr, nullptr, 0);
  auto status = PQresultStatus(result_);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) db_.fail(result_, sql_);
  rows_ = PQntuples(result_);
}

bool query::step() {
  if (result_ == nullptr) execute();
  if (row_ + 1 >= rows_) {
    row_ = rows_;
    return false;
  }
  ++row_;
  return true;
}

void query::run() {
  if (result_ == nullptr) execute();
}

std::int64_t query::changes() const {
  if (result_ == nullptr) return 0;
  const char* text = PQcmdTuples(result_);
  std::int64_t n = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), n);
  return n;
}

bool query::is_null(int column) const {
  assert(result_ && row_ >= 0 && row_ < rows_);
  return PQgetisnull(result_, row_, column) != 0;
}

std::int64_t query::get_int(int column) const {
  if (is_null(column)) return 0;
  auto text = get_view(column);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    // A boolean column reads as t/f; a numeric one as a decimal.
    if (text == "t") return 1;
    if (text == "f") return 0;
    double d = 0;
    auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (dec == std::errc()) return static_cast<std::int64_t>(d);
    throw store_error("column " + std::to_string(column) + " holds '" + std::string(text) +
                      "', not an integer [" + sql_ + "]");
  }
  return value;
}

std::string query::get_text(int column) const { return std::string(get_view(column)); }

std::string_view query::get_view(int column) const {
  assert(result_ && row_ >= 0 && row_ < rows_);
  return {PQgetvalue(result_, row_, column),
          static_cast<std::size_t>(PQgetlength(result_, row_, column))};
}

double query::get_double(int column) const {
  if (is_null(column)) return 0;
  auto text = get_view(column);
  double value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

time_point query::get_time(int column) const { return from_ms(get_int(column)); }

std::optional<time_point> query::get_opt_time(int column) const {
  if (is_null(column)) return std::nullopt;
  return get_time(column);
}

}  // namespace pigeon::engine::postgres
