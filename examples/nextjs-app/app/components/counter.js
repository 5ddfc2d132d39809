"use client";

import { useEffect, useState } from "react";

// Shows that the page's JavaScript ran (hydration): "hydrated" appears only in a browser.
export default function Counter() {
  const [count, setCount] = useState(0);
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return (
    <p>
      <button id="counter" type="button" onClick={() => setCount(count + 1)}>
        clicked {count} times
      </button>{" "}
      <span id="hydration">{hydrated ? "hydrated" : "server-rendered"}</span>
    </p>
  );
}
