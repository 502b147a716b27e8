// A process.lua body for ordering tests: it receives integers 1, 2, 3, ... on its inbox and fails
// ("out of order: got X, expected Y") on the first one out of sequence; a message on topic "go"
// ends it with the count it received in order. Used where spawns move between workers
// (stealing, the Lua-side spawn list) to check that per-sender FIFO still holds.
export const ORDERED_CHILD = `return { main = function()
  local inbox = process.inbox()
  local expect = 1
  while true do
    local m = inbox:receive()
    if m:topic() == "go" then return expect - 1 end
    local v = m:payload():data()
    if v ~= expect then error("out of order: got " .. tostring(v) .. ", expected " .. expect) end
    expect = expect + 1
  end
end }`;
