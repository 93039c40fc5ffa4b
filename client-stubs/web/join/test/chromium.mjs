// How the join page's tests start Debian's Chromium: headless, no background traffic, a fake
// camera and microphone that need no permission prompt, media that plays without a gesture.
// Env: CHROMIUM (default /usr/bin/chromium).
export const chromiumOptions = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ],
};
