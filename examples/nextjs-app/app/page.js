import Counter from "./components/counter";
import Notes from "./components/notes";

export default function Home() {
  return (
    <>
      <h1>nextjs-app</h1>
      <p id="rendered">Rendered by Next.js at {new Date().toISOString()}.</p>
      <Counter />
      <Notes />
    </>
  );
}
