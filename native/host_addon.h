// The addon's functions for host.h, added to its exports by addon.cc.
#pragma once

#include <napi.h>

namespace vmmstats {

void RegisterHost(Napi::Env env, Napi::Object exports);

}  // namespace vmmstats
