import Link from "next/link";

export default function About() {
  return (
    <>
      <h1>About</h1>
      <p id="about">
        A Next.js standalone build (<code>node server.js</code>) behind golden&apos;s nginx,
        next to a FastAPI backend at <code>/api/</code>.
      </p>
      <Link href="/" id="home-link">Back home</Link>
    </>
  );
}
