import "./globals.css";

// Rendered per request: Next.js puts the request's CSP nonce on its inline scripts
// (it reads the nonce from the Content-Security-Policy request header nginx sends), and a
// page prerendered at build time could not carry a per-request nonce.
export const dynamic = "force-dynamic";

export const metadata = {
  title: "nextjs-app",
  description: "A Next.js standalone app served by golden",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <nav>
          <a href="/">Home</a> · <a href="/about">About</a>
        </nav>
        <main>{children}</main>
      </body>
    </html>
  );
}
