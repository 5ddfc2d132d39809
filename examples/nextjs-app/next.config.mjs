/** @type {import('next').NextConfig} */
const nextConfig = {
  // .next/standalone: server.js and only the node_modules it needs (`node server.js`).
  output: "standalone",
  // No X-Powered-By header: nginx sets the site's headers.
  poweredByHeader: false,
  // This is the only app in the folder: trace files from here, not from a parent lockfile.
  outputFileTracingRoot: import.meta.dirname,
};

export default nextConfig;
