// Boost.JSON compiled into the fuzz targets rather than linked from the system library: instrumented,
// so that the fuzzer sees its own way through the JSON grammar and the sanitizers watch it too.
#include <boost/json/src.hpp>
