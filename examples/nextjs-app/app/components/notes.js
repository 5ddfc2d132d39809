"use client";

import { useEffect, useState } from "react";

// A fetch to the backend on the same origin (nginx routes /api/ to it): connect-src 'self'.
export default function Notes() {
  const [answer, setAnswer] = useState("asking /api/info ...");
  useEffect(() => {
    fetch("/api/info")
      .then((response) => response.json())
      .then((body) => setAnswer(`backend ${body.app} (${body.replica}) answered`))
      .catch(() => setAnswer("backend did not answer"));
  }, []);
  return <p id="backend">{answer}</p>;
}
