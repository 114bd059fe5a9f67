/** Headless Firefox ESR over WebDriver BiDi (puppeteer-core), with fake camera and mic. */
import puppeteer, { type Browser as FirefoxBrowser } from 'puppeteer-core';

const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export async function launchFirefox(): Promise<FirefoxBrowser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      // videos play without a user gesture, as Chromium's --autoplay-policy does for the tests
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
      // plain host candidates, as the server cannot resolve mDNS names
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
}
