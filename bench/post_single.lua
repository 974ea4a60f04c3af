-- wrk script: one new report per request (fresh event_id), Bearer key from DX_BENCH_TOKEN.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local token = os.getenv("DX_BENCH_TOKEN") or ""

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

request = function()
  local body = string.format(
    '{"event_id":"%s","unit":"QN-P-HONGGAI","indicator":"DG-04","observed_at":"2026-09-30",' ..
    '"numerator":%d,"denominator":1000}', uuid4(), math.random(0, 1000))
  return wrk.format("POST", "/v1/reports",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
