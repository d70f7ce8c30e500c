// Connects to Redis with the login in a file and sends `PING`. The file is a dotenv file
// (REDIS_USER=..., REDIS_PASS_CURRENT=..., REDIS_PASS_NEXT=...) or a directory holding one
// file per key, as Kubernetes mounts a Secret. REDIS_USER may be left out: `default`.
//
//   ./redis_file /run/secrets/redis [host] [port]
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/file.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: {} SECRETS_FILE_OR_DIR [HOST] [PORT]\n", argv[0]);
    return 2;
  }
  dualcred::redis::params where;
  where.host = argc > 2 ? argv[2] : "127.0.0.1";
  where.port = argc > 3 ? std::atoi(argv[3]) : 6379;
  where.timeout = std::chrono::seconds(2);

  auto creds = dualcred::make_dual_credential(
      dualcred::redis::connector(where),
      dualcred::file_provider(argv[1], dualcred::key_names::for_prefix("REDIS")));
  if (!creds) {
    fmt::print(stderr, "cannot read the login: {}\n", creds.error().detail);
    return 1;
  }
  auto conn = creds.value().connect();
  if (!conn) {
    fmt::print(stderr, "cannot connect: {}\n", conn.error().detail);
    return 1;
  }

  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(redisCommand(conn.value().get(), "PING")), freeReplyObject);
  if (!reply || reply->type != REDIS_REPLY_STATUS) {
    fmt::print(stderr, "PING failed\n");
    return 1;
  }
  fmt::print("PING -> {}\n", reply->str);
  fmt::print("status: {}\n", creds.value().snapshot());
  return 0;
}
