// Phone numbers as people of the box's region read them (national format at home,
// international otherwise), asked of the switch (GET /api/v1/numbers) and kept.

import { api } from "./api.js";

const known = new Map();

export async function loadPhones(numbers) {
  const missing = [...new Set(numbers.filter((n) => n && !known.has(n)))];
  for (let i = 0; i < missing.length; i += 50) {
    const chunk = missing.slice(i, i + 50);
    const query = chunk.map((n) => `n=${encodeURIComponent(n)}`).join("&");
    try {
      for (const form of await api("GET", `/numbers?${query}`)) {
        known.set(form.input, form.valid ? form.display : form.input);
      }
    } catch {
      return; // shown as they came; nothing is lost
    }
  }
}

export function phone(number) {
  if (!number) return "";
  return known.get(number) ?? number;
}
