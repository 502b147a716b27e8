-- Assertions for Lua modules tested alone under a fake (test/time.test.ts, test/funcs-lib.test.ts):
-- globals eq(got, want, what) and fails(kind, msg, v, err) for the `nil, err` convention; both
-- raise at the caller's line.
function eq(got, want, what)
  if got ~= want then
    error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2)
  end
end
function fails(kind, msg, v, err)
  if v ~= nil then error("expected a failure, got " .. tostring(v), 2) end
  if err == nil then error("expected an error object", 2) end
  if err:kind() ~= kind then
    error(("kind: got %s, want %s (%s)"):format(err:kind(), kind, err:message()), 2)
  end
  if msg and err:message() ~= msg then
    error(("message: got %q, want %q"):format(err:message(), msg), 2)
  end
end
