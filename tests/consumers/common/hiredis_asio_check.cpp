// The hiredis_asio part: its header, hiredis' and Boost's flags, and an async open that must
// fail cleanly (nothing listens on port 1).
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <dualcred/backend/hiredis_asio.hpp>

int main() {
  boost::asio::io_context io;
  dualcred::redis::params p;
  p.host = "127.0.0.1";
  p.port = 1;
  dualcred::redis::async_connector c(io.get_executor(), p);
  auto opened = c.async_open(boost::asio::use_future);
  io.run();
  auto conn = opened.get();
  if (conn) {
    std::fprintf(stderr, "an async open of a closed port should fail\n");
    return 1;
  }
  std::printf("hiredis %d.%d on Boost.Asio: %s\n", HIREDIS_MAJOR, HIREDIS_MINOR,
              conn.error().code.message().c_str());
  return 0;
}
